"""Train the tiny world's DDPM: a small diffusers UNet2DModel on ONE domain (disks by default).

    python -m unseen.worlds.tiny.train_ddpm --out runs/tiny_ddpm            # resumes if runs/tiny_ddpm has a checkpoint
    python -m unseen.worlds.tiny.train_ddpm --out runs/tiny_ddpm --export   # copy the EMA weights into the package

Every batch is freshly rendered (batch k holds images k*B .. k*B+B-1 of the domain), so the
data never repeats and a resumed run sees exactly the images an uninterrupted one would.
The learning rate warms up, then decays along a cosine; an EMA of the weights is kept and is
what ships, since on short runs the raw weights still wobble from step to step.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.training_utils import EMAModel

from unseen.worlds.tiny import assets
from unseen.worlds.tiny.domains import render, to_tensor

log = logging.getLogger("unseen.train_ddpm")


def make_unet(width: int = 32) -> UNet2DModel:
    """The tiny world's UNet: three levels (32, 16, 8 px), self-attention only at 8 px (cheap on CPU)."""
    return UNet2DModel(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(width, 2 * width, 2 * width),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=32,
        norm_num_groups=16,
    )


def make_scheduler() -> DDPMScheduler:
    """The DDPM training schedule of the paper's base models: 1000 steps, linear betas 1e-4..0.02."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)


def learning_rate(step: int, total: int, peak: float, warmup: int, floor: float = 0.05) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def sample_timesteps(n: int, num_train_timesteps: int, high_fraction: float, high_from: int = 700) -> torch.Tensor:
    """Uniform t, except that a fraction of the batch is drawn from [high_from, T).

    Sampling from pure noise needs eps at t near T to within sqrt(alpha_bar[T-1]) ~ 0.006 per pixel
    (x0_hat divides the error by it), while the loss there is tiny and uniform sampling gives those
    steps little gradient: a small model trained uniformly predicts eps ~10x too coarsely at T-1
    (measured: rmse 0.064 after 1000 steps), and deterministic DDIM from noise saturates.
    """
    t = torch.randint(0, num_train_timesteps, (n,))
    high = torch.rand(n) < high_fraction
    return torch.where(high, torch.randint(high_from, num_train_timesteps, (n,)), t)


def batch(domain: str, k: int, size: int, seed: int) -> torch.Tensor:
    return to_tensor(np.stack([render(domain, k * size + i, seed) for i in range(size)]))


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(args: argparse.Namespace, data=None, unet_factory=None) -> None:
    """Train (or resume) into ``args.out``. ``data(step) -> x0`` gives batch ``step`` (the tiny world's domain by
    default) and ``unet_factory()`` a fresh UNet: the emoji world passes its own."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    data = data or (lambda k: batch(args.domain, k, args.batch, args.seed))
    unet_factory = unet_factory or (lambda: make_unet(args.width))
    device = torch.device(getattr(args, "device", "cpu"))
    unet, scheduler = unet_factory().to(device), make_scheduler()
    ckpt_path = out / "checkpoint.pt"
    if getattr(args, "init", None) and not ckpt_path.exists():
        _warm_start(unet, Path(args.init))
    ema = EMAModel(unet.parameters(), decay=args.ema_decay, use_ema_warmup=True, power=0.75)
    opt = torch.optim.AdamW(unet.parameters(), lr=args.lr, weight_decay=0.0)
    step, losses = 0, []
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False, map_location=device)
        unet.load_state_dict(ckpt["unet"])
        opt.load_state_dict(ckpt["opt"])
        ema.load_state_dict(ckpt["ema"])
        torch.set_rng_state(ckpt["rng"].cpu())
        step, losses = ckpt["step"], ckpt["losses"]
        log.info("resumed from %s at step %d", ckpt_path, step)
    log.info("UNet with %.2f M parameters, %d steps of batch %d", sum(p.numel() for p in unet.parameters()) / 1e6,
             args.steps, args.batch)

    def checkpoint() -> None:
        atomic_save({"unet": unet.state_dict(), "opt": opt.state_dict(), "ema": ema.state_dict(),
                      "rng": torch.get_rng_state(), "step": step, "losses": losses}, ckpt_path)
        shadow = unet_factory()
        ema.copy_to(shadow.parameters())
        save_model(shadow, scheduler, out / "ema", {"step": step, "loss_last_500": _recent(losses),
                                                    "training": _training_args(args)})

    unet.train()
    tick = time.time()
    while step < args.steps:
        losses.append(_step(unet, scheduler, opt, ema, args, step, data(step).to(device)))
        step += 1
        if step % args.log_every == 0:
            rate = args.log_every / (time.time() - tick)
            tick = time.time()
            log.info("step %d/%d loss %.4f (mean of last %d) lr %.2e, %.2f steps/s, eta %.0f min", step, args.steps,
                     np.mean(losses[-args.log_every:]), args.log_every, opt.param_groups[0]["lr"], rate,
                     (args.steps - step) / rate / 60)
        if step % args.ckpt_every == 0 or step == args.steps:
            checkpoint()
    log.info("done: %d steps, final loss %.4f", step, _recent(losses))


def _warm_start(unet: UNet2DModel, init: Path) -> None:
    """A new schedule from a shipped model's (EMA) weights; the EMA, made after this, starts from them too."""
    unet.load_state_dict(UNet2DModel.from_pretrained(init / "unet").state_dict())
    log.info("initialised from %s", init)


def _step(unet, scheduler, opt, ema, args: argparse.Namespace, step: int, x0: torch.Tensor) -> float:
    """One optimizer step on the batch ``x0`` at ``step``; returns its loss. Noise and t are drawn on the CPU
    generator, so a run resumed from its checkpoint draws what an uninterrupted one would."""
    noise = torch.randn(x0.shape).to(x0.device)
    t = sample_timesteps(x0.shape[0], scheduler.config.num_train_timesteps, args.high_t_fraction).to(x0.device)
    loss = torch.nn.functional.mse_loss(unet(scheduler.add_noise(x0, noise, t), t).sample, noise)
    for group in opt.param_groups:
        group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
    opt.step()
    ema.step(unet.parameters())
    return loss.item()


def _recent(losses: list[float], n: int = 500) -> float:
    return float(np.mean(losses[-n:])) if losses else float("nan")


def save_model(unet: UNet2DModel, scheduler: DDPMScheduler, folder: Path, stats: dict) -> None:
    """Write a diffusers model folder (unet/, scheduler/, train_stats.json), replacing it atomically."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    unet.save_pretrained(tmp / "unet", safe_serialization=True)
    scheduler.save_pretrained(tmp / "scheduler")
    (tmp / "train_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _training_args(args: argparse.Namespace) -> dict:
    keys = ("domain", "init", "steps", "batch", "lr", "warmup", "width", "ema_decay", "high_t_fraction", "seed")
    return {k: getattr(args, k) for k in keys if hasattr(args, k)}


def export(run_dir: Path, args: argparse.Namespace) -> None:
    """Copy a run's EMA model into the package, keeping any statistics already measured on it."""
    src, dst = run_dir / "ema", assets.TINY_DDPM
    stats = json.loads((src / "train_stats.json").read_text())
    stats.setdefault("training", _training_args(args))
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    (dst / "train_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    log.info("exported %s -> %s", src, dst)


def start_run(args: argparse.Namespace) -> Path:
    """A training script's start: the run folder, its train.log beside the console, the CPU thread count."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(out / "train.log")])
    if args.threads:
        torch.set_num_threads(args.threads)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/tiny_ddpm", help="run folder (checkpoint, log, EMA model)")
    parser.add_argument("--domain", default="disks")
    parser.add_argument("--steps", type=int, default=3300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--width", type=int, default=32, help="channels of the first UNet level")
    parser.add_argument("--ema-decay", type=float, default=0.9995)
    parser.add_argument("--high-t-fraction", type=float, default=0.3,
                        help="share of each batch with t drawn from [700, T) (see sample_timesteps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--ckpt-every", type=int, default=250)
    parser.add_argument("--export", action="store_true", help="copy the run's EMA model into the package and exit")
    args = parser.parse_args(argv)
    start_run(args)
    if args.export:
        export(Path(args.out), args)
    else:
        train(args)


if __name__ == "__main__":
    main()
