"""Small re-statements of the two original architectures, with their original key names, for testing the
converter on layouts the shipped fixtures do not cover (several res blocks and attention levels, several
heads, plain conv resampling). Each is first checked against the fixture that the ORIGINAL code computed
(tests/models/test_convert.py), so it is trusted only as far as that agreement goes.

ADM: guided-diffusion's UNetModel (legacy attention order, GroupNorm eps 1e-5, cos-first time embedding).
DDPM: Ho et al.'s model in its PyTorch form (GroupNorm eps 1e-6, sin-first embedding with half - 1, padded
stride-2 downsampling, ``up`` stored by resolution level).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GN(nn.GroupNorm):
    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


# --- ADM ------------------------------------------------------------------------------------------------------


def adm_time_embedding(t: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ADMResBlock(nn.Module):
    def __init__(self, ch, emb_ch, out_ch, scale_shift=True, up=False, down=False):
        super().__init__()
        self.scale_shift, self.up, self.down = scale_shift, up, down
        self.in_layers = nn.Sequential(GN(32, ch), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, 2 * out_ch if scale_shift else out_ch))
        self.out_layers = nn.Sequential(GN(32, out_ch), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip_connection = nn.Identity() if out_ch == ch else nn.Conv2d(ch, out_ch, 1)

    def _resample(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest") if self.up else F.avg_pool2d(x, 2)

    def forward(self, x, emb):
        if self.up or self.down:
            h = self.in_layers[:-1](x)
            h, x = self._resample(h), self._resample(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb)[..., None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[1:](self.out_layers[0](h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class ADMAttention(nn.Module):
    def __init__(self, ch, head_ch):
        super().__init__()
        self.heads = ch // head_ch
        self.norm = GN(32, ch)
        self.qkv = nn.Conv1d(ch, 3 * ch, 1)
        self.proj_out = nn.Conv1d(ch, ch, 1)

    def forward(self, x, emb=None):
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        bs, width, length = qkv.shape
        ch = width // (3 * self.heads)
        q, k, v = qkv.reshape(bs * self.heads, ch * 3, length).split(ch, dim=1)  # the legacy order
        scale = 1 / math.sqrt(math.sqrt(ch))
        w = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale).float(), dim=-1).type(q.dtype)
        a = torch.einsum("bts,bcs->bct", w, v).reshape(b, -1, length)
        return (x + self.proj_out(a)).reshape(b, c, *spatial)


class ADMDownsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x, emb=None):
        return self.op(x)


class ADMUpsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, emb=None):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class EmbSequential(nn.Sequential):
    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, (ADMResBlock, ADMAttention, ADMDownsample, ADMUpsample)) else \
                layer(x)
        return x


class ADM(nn.Module):
    def __init__(self, in_ch=3, ch=32, out_ch=6, mult=(1, 2), n=1, attn_levels=(1,), head_ch=16, updown=True,
                 scale_shift=True):
        super().__init__()
        emb, self.ch = 4 * ch, ch
        self.time_embed = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.input_blocks = nn.ModuleList([EmbSequential(nn.Conv2d(in_ch, ch, 3, padding=1))])
        chans, cur = [ch], ch
        for level, m in enumerate(mult):
            for _ in range(n):
                layers = [ADMResBlock(cur, emb, m * ch, scale_shift)]
                cur = m * ch
                if level in attn_levels:
                    layers.append(ADMAttention(cur, head_ch))
                self.input_blocks.append(EmbSequential(*layers))
                chans.append(cur)
            if level != len(mult) - 1:
                self.input_blocks.append(EmbSequential(
                    ADMResBlock(cur, emb, cur, scale_shift, down=True) if updown else ADMDownsample(cur)))
                chans.append(cur)
        self.middle_block = EmbSequential(ADMResBlock(cur, emb, cur, scale_shift), ADMAttention(cur, head_ch),
                                          ADMResBlock(cur, emb, cur, scale_shift))
        self.output_blocks = nn.ModuleList()
        for level, m in reversed(list(enumerate(mult))):
            for i in range(n + 1):
                layers = [ADMResBlock(cur + chans.pop(), emb, m * ch, scale_shift)]
                cur = m * ch
                if level in attn_levels:
                    layers.append(ADMAttention(cur, head_ch))
                if level and i == n:
                    layers.append(ADMResBlock(cur, emb, cur, scale_shift, up=True) if updown else ADMUpsample(cur))
                self.output_blocks.append(EmbSequential(*layers))
        self.out = nn.Sequential(GN(32, ch), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))

    def forward(self, x, t):
        emb = self.time_embed(adm_time_embedding(t, self.ch))
        hs, h = [], x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)


# --- the original DDPM ----------------------------------------------------------------------------------------


def ddpm_time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    emb = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
    emb = t.float()[:, None] * emb[None]
    return torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)


def _norm(c):
    return nn.GroupNorm(32, c, eps=1e-6)


class DDPMResBlock(nn.Module):
    def __init__(self, c_in, c_out, temb):
        super().__init__()
        self.norm1, self.conv1 = _norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.temb_proj = nn.Linear(temb, c_out)
        self.norm2, self.conv2 = _norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        if c_in != c_out:
            self.nin_shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class DDPMAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = _norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        w = torch.bmm(q.reshape(b, c, -1).permute(0, 2, 1), k.reshape(b, c, -1)) * c ** -0.5
        w = torch.softmax(w, dim=2)
        h = torch.bmm(v.reshape(b, c, -1), w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class DDPMDown(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class DDPMUp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DDPM(nn.Module):
    def __init__(self, ch=32, out_ch=3, mult=(1, 2), n=2, attn_resolutions=(16,), resolution=32, in_ch=3):
        super().__init__()
        self.ch, self.n, self.levels, temb = ch, n, len(mult), 4 * ch
        self.temb = nn.Module()
        self.temb.dense = nn.ModuleList([nn.Linear(ch, temb), nn.Linear(temb, temb)])
        self.conv_in = nn.Conv2d(in_ch, ch, 3, padding=1)
        in_mult, res = (1, *mult), resolution
        self.down = nn.ModuleList()
        for lv in range(self.levels):
            level, block_in = nn.Module(), ch * in_mult[lv]
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(n):
                level.block.append(DDPMResBlock(block_in, ch * mult[lv], temb))
                block_in = ch * mult[lv]
                if res in attn_resolutions:
                    level.attn.append(DDPMAttention(block_in))
            if lv != self.levels - 1:
                level.downsample = DDPMDown(block_in)
                res //= 2
            self.down.append(level)
        self.mid = nn.Module()
        self.mid.block_1, self.mid.attn_1 = DDPMResBlock(block_in, block_in, temb), DDPMAttention(block_in)
        self.mid.block_2 = DDPMResBlock(block_in, block_in, temb)
        self.up = nn.ModuleList()
        for lv in reversed(range(self.levels)):
            level = nn.Module()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            skip_in = ch * mult[lv]
            for i in range(n + 1):
                if i == n:
                    skip_in = ch * in_mult[lv]
                level.block.append(DDPMResBlock(block_in + skip_in, ch * mult[lv], temb))
                block_in = ch * mult[lv]
                if res in attn_resolutions:
                    level.attn.append(DDPMAttention(block_in))
            if lv != 0:
                level.upsample = DDPMUp(block_in)
                res *= 2
            self.up.insert(0, level)  # stored by resolution level
        self.norm_out, self.conv_out = _norm(block_in), nn.Conv2d(block_in, out_ch, 3, padding=1)

    def forward(self, x, t):
        temb = self.temb.dense[1](F.silu(self.temb.dense[0](ddpm_time_embedding(t, self.ch))))
        hs = [self.conv_in(x)]
        for lv in range(self.levels):
            for i in range(self.n):
                h = self.down[lv].block[i](hs[-1], temb)
                if len(self.down[lv].attn):
                    h = self.down[lv].attn[i](h)
                hs.append(h)
            if lv != self.levels - 1:
                hs.append(self.down[lv].downsample(hs[-1]))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(hs[-1], temb)), temb)
        for lv in reversed(range(self.levels)):
            for i in range(self.n + 1):
                h = self.up[lv].block[i](torch.cat([h, hs.pop()], dim=1), temb)
                if len(self.up[lv].attn):
                    h = self.up[lv].attn[i](h)
            if lv != 0:
                h = self.up[lv].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def randomise(net: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter random and non-zero, so each one affects the output (zero-initialised layers would hide
    a wrong mapping)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() > 1:  # a weight matrix or kernel: variance-preserving scale
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p[0].numel()))
            else:  # a bias, or a norm's gain (around 1)
                p.copy_(0.1 * torch.randn(p.shape, generator=g) + (1.0 if name.endswith("weight") else 0.0))
    return net.eval()
