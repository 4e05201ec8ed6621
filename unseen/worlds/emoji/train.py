"""Train emoji_ddpm: a diffusers UNet2DModel on the emoji categories that are never targets.

    python -m unseen.worlds.emoji.train --out runs/emoji_ddpm            # resumes from runs/emoji_ddpm/checkpoint.pt
    python -m unseen.worlds.emoji.train --out runs/emoji_ddpm --export   # copy the EMA model into the package

The data are the two vendors' images of Animals & Nature, Food & Drink, Objects, Travel & Places, Activities
and Symbols (about 2,160 at 32 px); faces, flags, people and hearts are never seen. Batch k is a slice of a
seeded permutation of the images (a new one each epoch), each image flipped left-right with probability 1/2
by a generator seeded with k: a resumed run sees exactly the batches an uninterrupted one would. The loop,
the schedule and the EMA are the tiny world's (``unseen.worlds.tiny.train_ddpm``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from diffusers import UNet2DModel

from unseen.images import to_tensor
from unseen.worlds.emoji import assets, data
from unseen.worlds.tiny import train_ddpm

log = logging.getLogger("unseen.emoji.train")


def make_unet(resolution: int = 32) -> UNet2DModel:
    """Four levels (32, 16, 8, 4 px at 32 px input), self-attention at 8 px: 4.3 M parameters, about 1.1 s a
    batch of 32 on two CPU cores (measured against (48, 96, 96) over three levels: 2.5 M, 1.4 s)."""
    return UNet2DModel(
        sample_size=resolution,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(32, 64, 128, 128),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim=32,
        norm_num_groups=16,
    )


def base_images(cache_dir: str | None, path: str | None, resolution: int) -> tuple[np.ndarray, list[str]]:
    """uint8 (N, H, W, 3) of every training image, and their ids."""
    folders = data.folders(cache_dir, path)
    chosen = data.items(folders, tuple(data.BASE_CLASSES.values()))
    return data.read(folders, chosen, resolution), [it.id for it in chosen]


class Batches:
    """Batch k of an epoch-wise permutation, flips drawn per batch: a pure function of (seed, k)."""

    def __init__(self, images: np.ndarray, size: int, seed: int):
        self.images, self.size, self.seed = to_tensor(images), size, seed

    def __call__(self, k: int) -> torch.Tensor:
        n = len(self.images)
        start = k * self.size
        idx = []
        while len(idx) < self.size:
            epoch, offset = divmod(start + len(idx), n)
            order = np.random.default_rng([self.seed, epoch]).permutation(n)
            idx += order[offset:offset + self.size - len(idx)].tolist()
        x = self.images[idx]
        flip = torch.from_numpy(np.random.default_rng([self.seed, 1 << 20, k]).random(self.size) < 0.5)
        return torch.where(flip[:, None, None, None], x.flip(-1), x)


INIT_STATS = "init_train_stats.json"  # a warm start's starting model's train_stats.json, as it was at the start


def snapshot_init(run_dir: Path, init: str | None) -> None:
    """Keep the starting model's train_stats.json in a fresh warm-start run, for export to nest."""
    if not init or (run_dir / "checkpoint.pt").exists() or (run_dir / INIT_STATS).exists():
        return
    if (Path(init) / "train_stats.json").is_file():
        shutil.copyfile(Path(init) / "train_stats.json", run_dir / INIT_STATS)


def export(run_dir: Path, history: str | None = None) -> None:
    """Copy a run's EMA model into the package, with the list of training images and, where the run was not one
    uninterrupted schedule, how it was trained (``history``)."""
    src, dst = run_dir / "ema", assets.EMOJI_DDPM
    stats = json.loads((src / "train_stats.json").read_text())
    init = stats["training"].get("init")
    # A warm start: keep what the starting weights had been through. The snapshot taken when the run began wins
    # over the init folder, which is often the package and may since hold this very run's earlier export.
    found = [f for f in (run_dir / INIT_STATS, Path(init) / "train_stats.json") if f.is_file()] if init else []
    if found:
        before = json.loads(found[0].read_text())
        stats["training"]["warm_start_from"] = {"step": before["step"], "training": before["training"]}
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    if (run_dir / "images.json").is_file():
        stats["training"]["images"] = len(json.loads((run_dir / "images.json").read_text()))
    if history:
        stats["training"]["history"] = history
    (dst / "train_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    log.info("exported %s -> %s", src, dst)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/emoji_ddpm", help="run folder (checkpoint, log, EMA model)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--ema-decay", type=float, default=0.999)
    parser.add_argument("--high-t-fraction", type=float, default=0.3,
                        help="share of each batch with t drawn from [700, T) (see train_ddpm.sample_timesteps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default=None,
                        help="warm start: a diffusers model folder (e.g. the shipped emoji_ddpm) whose UNet weights "
                             "start this run's schedule; ignored when the run folder has a checkpoint")
    parser.add_argument("--cache-dir", default=os.environ.get("UNSEEN_CACHE", ".cache/unseen"))
    parser.add_argument("--path", default=None, help="a folder with the two npm packages (offline)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--ckpt-every", type=int, default=250)
    parser.add_argument("--export", action="store_true", help="copy the run's EMA model into the package and exit")
    parser.add_argument("--history", default=None, help="with --export: how the run was trained, if not in one go")
    args = parser.parse_args(argv)
    out = train_ddpm.start_run(args)
    if args.export:
        return export(out, args.history)
    images, ids = base_images(args.cache_dir, args.path, args.resolution)
    args.domain = f"emoji: {', '.join(data.BASE)} ({len(ids)} images, {', '.join(data.VENDORS)})"
    (out / "images.json").write_text(json.dumps(ids) + "\n")
    log.info("%d training images at %d px", len(ids), args.resolution)
    snapshot_init(out, args.init)
    train_ddpm.train(args, data=Batches(images, args.batch, args.seed),
                     unet_factory=lambda: make_unet(args.resolution))


if __name__ == "__main__":
    main()
