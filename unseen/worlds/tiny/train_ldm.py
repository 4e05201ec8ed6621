"""Train the tiny world's latent diffusion model (``model=tiny_ldm``): an AutoencoderKL and a UNet2DModel over
its latents, both on disks only, in two resumable stages.

    python -m unseen.worlds.tiny.train_ldm --out runs/tiny_ldm            # autoencoder, then the latent UNet
    python -m unseen.worlds.tiny.train_ldm --out runs/tiny_ldm --export   # copy the pipeline folder into the package

The autoencoder halves the resolution to 16 x 16 x 12 latents (as many numbers as pixels). It sees only disks,
and what it has not learnt to carry it blurs: a 4-channel one (3x fewer numbers, Stable Diffusion's channel count)
trained the same 2,000 steps reconstructed disks at 29.2 dB but smileys at 19.6 dB, their eyes and mouths washed
out (experiments/results/latent/autoencoder_4_channels.json), too little for a target it never saw. Its round
trip on every domain is in train_stats.json. Latents are scaled by 1 / their standard deviation on disks
(``scaling_factor``, as Stable Diffusion's VAE), so the UNet sees unit-variance data, and the posterior's mean is
what the method encodes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DModel

from unseen.worlds.tiny import assets
from unseen.worlds.tiny.domains import DOMAINS
from unseen.worlds.tiny.train_ddpm import atomic_save, batch, learning_rate, start_run, train

log = logging.getLogger("unseen.train_ldm")


def make_vae(width: int = 16, channels: int = 12) -> AutoencoderKL:
    """Two levels (32, 16 px): one downsampling, to ``channels`` latent channels."""
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=channels, layers_per_block=1,
                         block_out_channels=(width, 2 * width), norm_num_groups=16,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         sample_size=32)


def make_latent_unet(width: int = 32, channels: int = 12) -> UNet2DModel:
    """The latent UNet: three levels (16, 8, 4), self-attention at 4 (the tiny DDPM's shape, one level down)."""
    return UNet2DModel(sample_size=16, in_channels=channels, out_channels=channels, layers_per_block=1,
                       block_out_channels=(width, width, 2 * width),
                       down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
                       attention_head_dim=32, norm_num_groups=16)


def vae_loss(vae: AutoencoderKL, x: torch.Tensor, kl_weight: float, generator: torch.Generator) -> torch.Tensor:
    """L1 + MSE reconstruction of a posterior sample, and a small KL that keeps the latents near N(0, I) in
    scale (Stable Diffusion's autoencoder weighs it 1e-6 too; the perceptual and GAN terms are left out)."""
    posterior = vae.encode(x).latent_dist
    recon = vae.decode(posterior.sample(generator)).sample
    return (recon - x).abs().mean() + torch.nn.functional.mse_loss(recon, x) + kl_weight * posterior.kl().mean()


def train_vae(args: argparse.Namespace) -> AutoencoderKL:
    """Stage 1 (resumable from ``out/vae_checkpoint.pt``); returns the trained autoencoder (no EMA: the method
    uses it as a fixed map, and its round trip is measured)."""
    out = Path(args.out)
    torch.manual_seed(args.seed)
    vae = make_vae(args.vae_width, args.latent_channels)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    ckpt_path, step = out / "vae_checkpoint.pt", 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        vae.load_state_dict(ckpt["vae"])
        opt.load_state_dict(ckpt["opt"])
        step = ckpt["step"]
        log.info("autoencoder: resumed at step %d", step)
    vae.train()
    tick, losses = time.time(), []
    while step < args.vae_steps:
        gen = torch.Generator().manual_seed(args.seed * 100003 + step)  # per step: resumes draw the same noise
        loss = vae_loss(vae, batch(args.domain, step, args.batch, args.seed + 1), args.kl_weight, gen)
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.vae_steps, args.vae_lr, args.warmup)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % args.log_every == 0:
            log.info("autoencoder step %d/%d loss %.4f, %.2f steps/s", step, args.vae_steps,
                     np.mean(losses[-args.log_every:]), args.log_every / (time.time() - tick))
            tick = time.time()
        if step % args.ckpt_every == 0 or step == args.vae_steps:
            atomic_save({"vae": vae.state_dict(), "opt": opt.state_dict(), "step": step}, ckpt_path)
    return vae.eval().requires_grad_(False)


@torch.no_grad()
def scaling_factor(vae: AutoencoderKL, domain: str, seed: int, n: int = 512) -> float:
    """1 / the standard deviation of the posterior means on ``n`` images of the training domain."""
    x = batch(domain, 10_000, n, seed + 2)  # images the autoencoder did not train on
    return float(1.0 / vae.encode(x).latent_dist.mean.std())


@torch.no_grad()
def round_trip_psnr(vae: AutoencoderKL, seed: int, n: int = 64) -> dict[str, float]:
    """The autoencoder's own round trip (mean, encode, decode) per domain, in dB: the floor of any latent run."""
    out = {}
    for name in DOMAINS:
        x = batch(name, 20_000, n, seed + 3)
        y = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
        mse = ((y - x) / 2).pow(2).flatten(1).mean(1)
        out[name] = round(float((-10 * torch.log10(mse)).mean()), 2)
    return out


def train_unet(args: argparse.Namespace, vae: AutoencoderKL, factor: float) -> None:
    """Stage 2: the tiny DDPM's training loop (train_ddpm.train) on scaled posterior means of disks."""

    @torch.no_grad()
    def data(k: int) -> torch.Tensor:
        return vae.encode(batch(args.domain, k, args.batch, args.seed)).latent_dist.mean * factor

    unet_args = argparse.Namespace(**{**vars(args), "out": str(Path(args.out) / "unet_run"), "width": args.unet_width})
    train(unet_args, data=data, unet_factory=lambda: make_latent_unet(args.unet_width, args.latent_channels))


def save_pipeline(run_dir: Path, dst: Path, args: argparse.Namespace) -> None:
    """A diffusers folder: model_index.json, unet/, vae/, scheduler/, train_stats.json (replaced atomically)."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(run_dir / "unet_run" / "ema", tmp)
    vae = make_vae(args.vae_width, args.latent_channels)
    vae.load_state_dict(torch.load(run_dir / "vae_checkpoint.pt", weights_only=False)["vae"])
    stats = json.loads((run_dir / "vae_stats.json").read_text())
    vae.register_to_config(scaling_factor=stats["scaling_factor"])
    vae.save_pretrained(tmp / "vae", safe_serialization=True)
    (tmp / "model_index.json").write_text(json.dumps({
        "_class_name": "LatentDDPM", "unet": ["diffusers", "UNet2DModel"], "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "DDPMScheduler"]}, indent=2) + "\n")
    unet_stats = json.loads((tmp / "train_stats.json").read_text())
    (tmp / "train_stats.json").write_text(json.dumps({"unet": unet_stats, "vae": stats}, indent=2) + "\n")
    if dst.exists():
        shutil.rmtree(dst)
    os.replace(tmp, dst)
    log.info("wrote %s", dst)


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    vae = train_vae(args)
    stats_file = out / "vae_stats.json"
    if not stats_file.exists():
        stats = {"steps": args.vae_steps, "scaling_factor": scaling_factor(vae, args.domain, args.seed),
                 "round_trip_psnr_db": round_trip_psnr(vae, args.seed),
                 "training": {k: getattr(args, k) for k in ("domain", "vae_steps", "vae_lr", "vae_width",
                                                            "latent_channels", "kl_weight", "batch", "seed")}}
        stats_file.write_text(json.dumps(stats, indent=2) + "\n")
        log.info("autoencoder: %s", stats)
    train_unet(args, vae, json.loads(stats_file.read_text())["scaling_factor"])
    save_pipeline(out, out / "pipeline", args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/tiny_ldm")
    parser.add_argument("--domain", default="disks")
    parser.add_argument("--vae-steps", type=int, default=2000)
    parser.add_argument("--vae-lr", type=float, default=1e-3)
    parser.add_argument("--vae-width", type=int, default=16)
    parser.add_argument("--latent-channels", type=int, default=12)
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--steps", type=int, default=4000, help="latent UNet steps")
    parser.add_argument("--unet-width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--ema-decay", type=float, default=0.9995)
    parser.add_argument("--high-t-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--ckpt-every", type=int, default=250)
    parser.add_argument("--export", action="store_true", help="copy the run's pipeline folder into the package")
    args = parser.parse_args(argv)
    out = start_run(args)
    if args.export:
        shutil.rmtree(assets.TINY_LDM, ignore_errors=True)
        shutil.copytree(out / "pipeline", assets.TINY_LDM)
    else:
        run(args)


if __name__ == "__main__":
    main()
