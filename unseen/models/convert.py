"""Convert the paper's raw checkpoints into diffusers folders that ``load_model`` reads.

    python -m unseen.models.convert adm  afhq_p2.pt        --out models/dog_ddpm
    python -m unseen.models.convert ddpm celeba_hq.ckpt    --out models/celebahq [--image-size 256] [--force]

* ``adm``: guided-diffusion / improved-DDPM ``UNetModel`` state dicts (the paper's AFHQ-Dog model,
  ``afhq_p2.pt`` of the P2-weighting project): keys ``input_blocks.*``, ``middle_block.*``,
  ``output_blocks.*``, ``time_embed.*``, ``out.*``.
* ``ddpm``: the original DDPM (Ho et al.) in its PyTorch form (``celeba_hq.ckpt``,
  ``church_outdoor.ckpt``, ``bedroom.ckpt``): keys ``temb.dense.*``, ``down.*``, ``mid.*``, ``up.*``.

The architecture is read from the weights' names and shapes (levels, channels, res blocks per
level, where attention sits, learned sigma, scale-shift norm, resblock up/down); only what the
weights cannot say comes from the options (image size; the channels per attention head of an ADM
model). Every source tensor is used exactly once and the load is strict, so a checkpoint of
another architecture fails with the keys that did not fit, never a silently wrong model.

What the two originals compute, and where diffusers needs telling (each checked against the
fixtures in tests/models/test_convert.py):
* ADM's time embedding is cos-first with exponent / half; the original DDPM's sin-first with
  log(10000) / (half - 1) (``flip_sin_to_cos``, ``freq_shift``);
* GroupNorm eps: ADM 1e-5, DDPM 1e-6;
* ADM's legacy attention (QKVAttentionLegacy) lays ``qkv`` out per head as (q, k, v);
* diffusers' mid block drops its attention GroupNorm under ``scale_shift`` unless
  ``attn_norm_num_groups`` is set;
* resblock_updown needs diffusers' resnet down/up samplers (``ResnetDownsampleBlock2D``,
  ``downsample_type="resnet"``);
* the original DDPM pads (0, 1, 0, 1) before its stride-2 conv (``downsample_padding=0``) and
  stores ``up`` by resolution level, not in execution order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable

import torch

from unseen.errors import UserError

KINDS = ("adm", "ddpm")
Transform = Callable[[torch.Tensor], torch.Tensor]


# --- reading --------------------------------------------------------------------------------------------------


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from .pt / .ckpt / .pth (weights only, nothing unpickled that is code) or .safetensors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises several types for foreign or torn files
            # PyTorch's own message advises weights_only=False, which would run code from the file: not quoted.
            why = str(err).splitlines()[0][:200] if str(err) else ""
            if "weights_only" in str(err):
                why = "it holds objects other than tensors, which are never unpickled here"
            raise UserError(f"cannot read checkpoint {path} as a weights-only PyTorch state dict "
                            f"({type(err).__name__}: {why}): save its state_dict() alone "
                            f"(torch.save(model.state_dict(), FILE)) or as safetensors") from err
    for wrapper in ("state_dict", "model", "ema"):  # some files nest the weights one level down
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict) and not any(
                isinstance(v, torch.Tensor) for v in state.values()):
            state = state[wrapper]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not a state dict of tensors")
    prefix = "module."  # saved from DataParallel
    if all(k.startswith(prefix) for k in state):
        state = {k[len(prefix):]: v for k, v in state.items()}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def detect_kind(state: dict[str, torch.Tensor]) -> str | None:
    if "input_blocks.0.0.weight" in state:
        return "adm"
    if "temb.dense.0.weight" in state:
        return "ddpm"
    return None


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


# --- the mapping ----------------------------------------------------------------------------------------------


class Mapping:
    """diffusers key -> (source key, transform); checks that every source key is used exactly once."""

    def __init__(self, state: dict[str, torch.Tensor]):
        self.state = state
        self.target: dict[str, torch.Tensor] = {}
        self.used: dict[str, int] = defaultdict(int)

    def has(self, prefix: str) -> bool:
        return any(k.startswith(prefix + ".") for k in self.state)

    def take(self, src: str, dst: str, transform: Transform = lambda x: x) -> None:
        if src not in self.state:
            raise UserError(f"the checkpoint has no {src!r}, which this architecture needs")
        self.used[src] += 1
        self.target[dst] = transform(self.state[src])

    def params(self, src: str, dst: str, transform: Transform = lambda x: x) -> None:
        """weight and bias of one layer (every layer of both originals has a bias)."""
        self.take(f"{src}.weight", f"{dst}.weight", transform)
        self.take(f"{src}.bias", f"{dst}.bias", transform)

    def check_all_used(self) -> None:
        unused = sorted(k for k in self.state if k not in self.used)
        twice = sorted(k for k, n in self.used.items() if n > 1)
        if unused or twice:
            raise UserError(f"the checkpoint does not fit the architecture read from it: "
                            f"{len(unused)} keys unused {unused[:6]}, {len(twice)} used twice {twice[:6]}")


def _squeeze_1x1(w: torch.Tensor) -> torch.Tensor:
    """A 1x1 conv's weight (C_out, C_in, 1[, 1]) as a linear layer's (C_out, C_in)."""
    return w.reshape(w.shape[0], w.shape[1]) if w.dim() > 2 else w


# --- ADM (guided-diffusion) -----------------------------------------------------------------------------------


def _adm_resblock(m: Mapping, src: str, dst: str) -> None:
    m.params(f"{src}.in_layers.0", f"{dst}.norm1")
    m.params(f"{src}.in_layers.2", f"{dst}.conv1")
    m.params(f"{src}.emb_layers.1", f"{dst}.time_emb_proj")
    m.params(f"{src}.out_layers.0", f"{dst}.norm2")
    m.params(f"{src}.out_layers.3", f"{dst}.conv2")
    if m.has(f"{src}.skip_connection"):
        m.params(f"{src}.skip_connection", f"{dst}.conv_shortcut")


def _adm_attention(m: Mapping, src: str, dst: str, head_channels: int) -> None:
    m.params(f"{src}.norm", f"{dst}.group_norm")
    w, b = m.state[f"{src}.qkv.weight"], m.state[f"{src}.qkv.bias"]
    channels = w.shape[1]
    if channels % head_channels:
        raise UserError(f"{src} has {channels} channels, not a multiple of --num-head-channels {head_channels}")
    heads = channels // head_channels
    # QKVAttentionLegacy: rows of qkv are (head, [q | k | v], channel of the head).
    w = _squeeze_1x1(w).reshape(heads, 3, head_channels, channels)
    b = b.reshape(heads, 3, head_channels)
    for i, name in enumerate(("to_q", "to_k", "to_v")):
        m.target[f"{dst}.{name}.weight"] = w[:, i].reshape(channels, channels).contiguous()
        m.target[f"{dst}.{name}.bias"] = b[:, i].reshape(channels).contiguous()
    m.used[f"{src}.qkv.weight"] += 1
    m.used[f"{src}.qkv.bias"] += 1
    m.params(f"{src}.proj_out", f"{dst}.to_out.0", _squeeze_1x1)


def _is_attention(m: Mapping, prefix: str) -> bool:
    return f"{prefix}.qkv.weight" in m.state


def _is_resblock(m: Mapping, prefix: str) -> bool:
    return f"{prefix}.in_layers.0.weight" in m.state


def _adm_levels(state: dict[str, torch.Tensor], m: Mapping, ch: int, levels: int, res_blocks: int
                ) -> tuple[list[int], list[bool]]:
    """Each level's channel multiplier and whether it has attention."""
    mult, attention, i = [], [], 1
    for level in range(levels):
        mult.append(state[f"input_blocks.{i}.0.out_layers.3.weight"].shape[0] // ch)
        attention.append(_is_attention(m, f"input_blocks.{i}.1"))
        i += res_blocks + (level < levels - 1)
    return mult, attention


def adm_config(state: dict[str, torch.Tensor], image_size: int, head_channels: int) -> tuple[dict, dict]:
    """The UNet2DModel config and a description of the layout, read from the weights."""
    if "label_emb.weight" in state:
        raise UserError("this ADM checkpoint is class-conditional (label_emb): only unconditional models are "
                        "supported")
    m = Mapping(state)
    ch = state["input_blocks.0.0.weight"].shape[0]
    in_channels = state["input_blocks.0.0.weight"].shape[1]
    out_channels = state["out.2.weight"].shape[0]
    n_in = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("input_blocks."))
    n_out = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("output_blocks."))
    # The first output block that ends in an upsampler closes the lowest level: it holds N + 1 res blocks.
    def upsampler(j: int) -> str | None:
        for sub in (1, 2):
            p = f"output_blocks.{j}.{sub}"
            if m.has(p) and not _is_attention(m, p):
                return p
        return None

    first_up = next((j for j in range(n_out) if upsampler(j)), None)
    if first_up is None:
        raise UserError("no upsampler found in output_blocks: not an ADM UNet with more than one level")
    per_level = first_up + 1  # N + 1
    levels, res_blocks = n_out // per_level, per_level - 1
    if levels * per_level != n_out or n_in != levels * per_level:
        raise UserError(f"cannot read an ADM layout from {n_in} input and {n_out} output blocks")
    resblock_updown = _is_resblock(m, upsampler(first_up))
    mult, attention = _adm_levels(state, m, ch, levels, res_blocks)
    scale_shift = state["input_blocks.1.0.emb_layers.1.weight"].shape[0] == 2 * mult[0] * ch
    if not resblock_updown and f"input_blocks.{res_blocks + 1}.0.op.weight" not in state:
        raise UserError("this ADM checkpoint resamples without convolutions (conv_resample=False), which diffusers' "
                        "UNet2DModel cannot express")
    down = [("AttnDownBlock2D" if a else ("ResnetDownsampleBlock2D" if resblock_updown else "DownBlock2D"))
            for a in attention]
    up = [("AttnUpBlock2D" if a else ("ResnetUpsampleBlock2D" if resblock_updown else "UpBlock2D"))
          for a in reversed(attention)]
    config = dict(
        sample_size=image_size, in_channels=in_channels, out_channels=out_channels, layers_per_block=res_blocks,
        block_out_channels=tuple(ch * k for k in mult), down_block_types=tuple(down), up_block_types=tuple(up),
        time_embedding_type="positional", flip_sin_to_cos=True, freq_shift=0, act_fn="silu", norm_num_groups=32,
        norm_eps=1e-5, attention_head_dim=head_channels, attn_norm_num_groups=32, add_attention=True,
        resnet_time_scale_shift="scale_shift" if scale_shift else "default",
        downsample_type="resnet" if resblock_updown else "conv", upsample_type="resnet" if resblock_updown else "conv",
        downsample_padding=1, dropout=0.0, center_input_sample=False,
    )
    layout = {"levels": levels, "res_blocks": res_blocks, "resblock_updown": resblock_updown,
              "attention": attention, "learn_sigma": out_channels == 2 * in_channels}
    return config, layout


def adm_mapping(state: dict[str, torch.Tensor], layout: dict, head_channels: int) -> Mapping:
    m = Mapping(state)
    levels, n, updown, attention = layout["levels"], layout["res_blocks"], layout["resblock_updown"], \
        layout["attention"]
    m.params("time_embed.0", "time_embedding.linear_1")
    m.params("time_embed.2", "time_embedding.linear_2")
    m.params("input_blocks.0.0", "conv_in")
    i = 1
    for level in range(levels):
        for j in range(n):
            _adm_resblock(m, f"input_blocks.{i}.0", f"down_blocks.{level}.resnets.{j}")
            if attention[level]:
                _adm_attention(m, f"input_blocks.{i}.1", f"down_blocks.{level}.attentions.{j}", head_channels)
            i += 1
        if level < levels - 1:
            if updown:
                _adm_resblock(m, f"input_blocks.{i}.0", f"down_blocks.{level}.downsamplers.0")
            else:
                m.params(f"input_blocks.{i}.0.op", f"down_blocks.{level}.downsamplers.0.conv")
            i += 1
    _adm_resblock(m, "middle_block.0", "mid_block.resnets.0")
    _adm_attention(m, "middle_block.1", "mid_block.attentions.0", head_channels)
    _adm_resblock(m, "middle_block.2", "mid_block.resnets.1")
    j = 0
    for k in range(levels):  # up_blocks[0] is the lowest resolution, as output_blocks run
        level = levels - 1 - k
        for r in range(n + 1):
            _adm_resblock(m, f"output_blocks.{j}.0", f"up_blocks.{k}.resnets.{r}")
            sub = 1
            if attention[level]:
                if not _is_attention(m, f"output_blocks.{j}.1"):
                    raise UserError(f"output_blocks.{j} lacks the attention its level has on the way down")
                _adm_attention(m, f"output_blocks.{j}.1", f"up_blocks.{k}.attentions.{r}", head_channels)
                sub = 2
            if r == n and level > 0:
                if updown:
                    _adm_resblock(m, f"output_blocks.{j}.{sub}", f"up_blocks.{k}.upsamplers.0")
                else:
                    m.params(f"output_blocks.{j}.{sub}.conv", f"up_blocks.{k}.upsamplers.0.conv")
            j += 1
    m.params("out.0", "conv_norm_out")
    m.params("out.2", "conv_out")
    return m


# --- the original DDPM ----------------------------------------------------------------------------------------


def _ddpm_resblock(m: Mapping, src: str, dst: str) -> None:
    for a, b in (("norm1", "norm1"), ("conv1", "conv1"), ("temb_proj", "time_emb_proj"), ("norm2", "norm2"),
                 ("conv2", "conv2")):
        m.params(f"{src}.{a}", f"{dst}.{b}")
    if m.has(f"{src}.nin_shortcut"):
        m.params(f"{src}.nin_shortcut", f"{dst}.conv_shortcut")


def _ddpm_attention(m: Mapping, src: str, dst: str) -> None:
    m.params(f"{src}.norm", f"{dst}.group_norm")
    for a, b in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")):
        m.params(f"{src}.{a}", f"{dst}.{b}", _squeeze_1x1)


def ddpm_config(state: dict[str, torch.Tensor], image_size: int) -> tuple[dict, dict]:
    ch = state["conv_in.weight"].shape[0]
    levels = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("down."))
    res_blocks = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("down.0.block."))
    mult = [state[f"down.{lv}.block.0.conv1.weight"].shape[0] // ch for lv in range(levels)]
    attention = [f"down.{lv}.attn.0.q.weight" in state for lv in range(levels)]
    if levels > 1 and "down.0.downsample.conv.weight" not in state:
        raise UserError("this DDPM checkpoint resamples without convolutions (resamp_with_conv=False), which "
                        "diffusers' UNet2DModel cannot express")
    config = dict(
        sample_size=image_size, in_channels=state["conv_in.weight"].shape[1],
        out_channels=state["conv_out.weight"].shape[0], layers_per_block=res_blocks,
        block_out_channels=tuple(ch * k for k in mult),
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)),
        time_embedding_type="positional", flip_sin_to_cos=False, freq_shift=1, act_fn="silu", norm_num_groups=32,
        norm_eps=1e-6, attention_head_dim=None, resnet_time_scale_shift="default", downsample_padding=0,
        add_attention=True, dropout=0.0, center_input_sample=False,
    )
    return config, {"levels": levels, "res_blocks": res_blocks, "attention": attention, "learn_sigma": False}


def ddpm_mapping(state: dict[str, torch.Tensor], layout: dict) -> Mapping:
    m = Mapping(state)
    levels, n, attention = layout["levels"], layout["res_blocks"], layout["attention"]
    m.params("temb.dense.0", "time_embedding.linear_1")
    m.params("temb.dense.1", "time_embedding.linear_2")
    m.params("conv_in", "conv_in")
    for lv in range(levels):
        for j in range(n):
            _ddpm_resblock(m, f"down.{lv}.block.{j}", f"down_blocks.{lv}.resnets.{j}")
            if attention[lv]:
                _ddpm_attention(m, f"down.{lv}.attn.{j}", f"down_blocks.{lv}.attentions.{j}")
        if lv < levels - 1:
            m.params(f"down.{lv}.downsample.conv", f"down_blocks.{lv}.downsamplers.0.conv")
    _ddpm_resblock(m, "mid.block_1", "mid_block.resnets.0")
    _ddpm_attention(m, "mid.attn_1", "mid_block.attentions.0")
    _ddpm_resblock(m, "mid.block_2", "mid_block.resnets.1")
    for lv in range(levels):  # `up` is stored by resolution level; diffusers runs the lowest first
        k = levels - 1 - lv
        for j in range(n + 1):
            _ddpm_resblock(m, f"up.{lv}.block.{j}", f"up_blocks.{k}.resnets.{j}")
            if attention[lv]:
                _ddpm_attention(m, f"up.{lv}.attn.{j}", f"up_blocks.{k}.attentions.{j}")
        if lv > 0:
            m.params(f"up.{lv}.upsample.conv", f"up_blocks.{k}.upsamplers.0.conv")
    m.params("norm_out", "conv_norm_out")
    m.params("conv_out", "conv_out")
    return m


# --- putting it together --------------------------------------------------------------------------------------


def _check_image_size(image_size: int, levels: int) -> None:
    """The resolution halves at each of the levels - 1 downsamplers: it must stay whole down to the lowest."""
    step = 2 ** (levels - 1)
    if image_size < step or image_size % step:
        raise UserError(f"--image-size {image_size} does not fit this checkpoint's {levels} levels: it must be a "
                        f"positive multiple of {step} (the model's own resolution, e.g. 256)")


def _check_expressible(config: dict, base: int) -> None:
    if config["block_out_channels"][0] != base:
        raise UserError(f"the first level has {config['block_out_channels'][0]} channels but the stem {base} "
                        f"(channel multiplier {config['block_out_channels'][0] / base:g} at the top level): diffusers' "
                        f"UNet2DModel ties the stem, the time embedding and the first level to one width")


def convert_state(kind: str, state: dict[str, torch.Tensor], image_size: int = 256, num_head_channels: int = 64):
    """(UNet2DModel with the converted weights, DDPMScheduler, layout) for a state dict of ``kind``."""
    from diffusers import DDPMScheduler, UNet2DModel

    found = detect_kind(state)
    if found != kind:
        raise UserError(f"this checkpoint looks like {found or 'neither adm nor ddpm'} (keys such as "
                        f"{sorted(state)[:3]}), not {kind}: pass `{found}` as the kind" if found else
                        f"this checkpoint is neither an ADM nor an original DDPM state dict (keys such as "
                        f"{sorted(state)[:3]})")
    try:
        if kind == "adm":
            config, layout = adm_config(state, image_size, num_head_channels)
            _check_image_size(image_size, layout["levels"])
            _check_expressible(config, state["input_blocks.0.0.weight"].shape[0])
            mapping = adm_mapping(state, layout, num_head_channels)
        else:
            config, layout = ddpm_config(state, image_size)
            _check_image_size(image_size, layout["levels"])
            _check_expressible(config, state["conv_in.weight"].shape[0])
            mapping = ddpm_mapping(state, layout)
    except KeyError as err:
        raise UserError(f"the checkpoint lacks {err}, which a {kind} model of the layout read from it needs") from err
    mapping.check_all_used()
    unet = UNet2DModel(**config)
    expected = unet.state_dict()
    wrong = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in mapping.target.items()
             if k in expected and v.shape != expected[k].shape]
    if wrong:
        raise UserError(f"{len(wrong)} converted tensors have the wrong shape, e.g. {wrong[:3]}")
    missing, unexpected = set(expected) - set(mapping.target), set(mapping.target) - set(expected)
    if missing or unexpected:
        raise UserError(f"the converted weights do not fill the diffusers model: missing {sorted(missing)[:6]}, "
                        f"unexpected {sorted(unexpected)[:6]}")
    unet.load_state_dict(mapping.target, strict=True)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                              variance_type="learned_range" if layout["learn_sigma"] else "fixed_small",
                              prediction_type="epsilon", clip_sample=True)
    return unet.eval(), scheduler, layout


def convert(kind: str, src: str | Path, out: str | Path, image_size: int = 256, num_head_channels: int = 64,
            force: bool = False) -> Path:
    """Write ``out``/unet and ``out``/scheduler (and conversion.json) for the checkpoint ``src``."""
    if kind not in KINDS:
        raise UserError(f"the kind must be one of {', '.join(KINDS)}, got {kind!r}")
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: --out names the diffusers FOLDER to write; choose another path")
    if out.exists() and any(out.iterdir()) and not force:
        raise UserError(f"{out} exists and is not empty: choose another --out, or pass --force to replace it")
    if image_size < 8 or num_head_channels < 1:
        raise UserError(f"--image-size must be >= 8 and --num-head-channels >= 1, got {image_size} and "
                        f"{num_head_channels}")
    state = load_state_dict(src)
    unet, scheduler, layout = convert_state(kind, state, image_size, num_head_channels)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the destination and moved into place whole: a failed conversion leaves nothing behind.
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        unet.save_pretrained(tmp / "unet", safe_serialization=True)
        scheduler.save_pretrained(tmp / "scheduler")
        (tmp / "conversion.json").write_text(json.dumps({
            "kind": kind, "source": str(Path(src).expanduser().resolve()), "source_sha256": file_sha256(src),
            "image_size": image_size, "num_head_channels": num_head_channels if kind == "adm" else None,
            "layout": layout, "parameters": sum(p.numel() for p in unet.parameters())}, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m unseen.models.convert", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=KINDS, help="adm: guided-diffusion / improved-DDPM; ddpm: the original DDPM")
    parser.add_argument("src", help="the checkpoint: .pt / .ckpt / .pth state dict, or .safetensors")
    parser.add_argument("--out", required=True, help="the diffusers folder to write (unet/, scheduler/)")
    parser.add_argument("--image-size", type=int, default=256, help="the model's resolution (default 256)")
    parser.add_argument("--num-head-channels", type=int, default=64,
                        help="ADM: channels per attention head (default 64, the paper's model)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    args = parser.parse_args(argv)
    try:
        out = convert(args.kind, args.src, args.out, args.image_size, args.num_head_channels, args.force)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    layout = json.loads((out / "conversion.json").read_text())
    print(f"converted {args.src} ({args.kind}, {layout['parameters']:,} parameters, layout {layout['layout']}) "
          f"-> {out}")


if __name__ == "__main__":
    main()
