"""A small CNN that tells the tiny world's domains apart.

It judges samples (the target-domain hit rate) and its penultimate layer, ``features``, is the
offline feature network for FID/KID on the tiny world.

    python -m unseen.worlds.tiny.classifier --out runs/classifier            # train, evaluate, write the JSON
    python -m unseen.worlds.tiny.classifier --out runs/classifier --export   # copy into the package
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from unseen.worlds.tiny import assets
from unseen.worlds.tiny.domains import DOMAINS, render, to_tensor

log = logging.getLogger("unseen.classifier")

TRAIN_SEED, HELD_OUT_SEED = 1, 2  # the DDPM trains on seed 0: three disjoint image streams


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
    )


class DomainClassifier(nn.Module):
    def __init__(self, classes: tuple[str, ...] = tuple(DOMAINS), width: int = 32, feature_dim: int = 128):
        super().__init__()
        self.classes, self.width, self.feature_dim = tuple(classes), width, feature_dim
        self.body = nn.Sequential(
            _block(3, width), nn.MaxPool2d(2),              # 16 px
            _block(width, 2 * width), nn.MaxPool2d(2),      # 8 px
            _block(2 * width, 4 * width), nn.MaxPool2d(2),  # 4 px: keeps where things are, for aligned domains
            nn.Flatten(), nn.Linear(4 * width * 16, feature_dim), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(feature_dim, len(self.classes))

    @property
    def config(self) -> dict:
        return {"classes": list(self.classes), "width": self.width, "feature_dim": self.feature_dim}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, feature_dim) of images in [-1, 1]."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> list[str]:
        was_training = self.training
        self.eval()
        labels = []
        for chunk in images.split(batch_size):
            labels += [self.classes[i] for i in self(chunk.to(next(self.parameters()).device)).argmax(1).tolist()]
        self.train(was_training)
        return labels

    def domain_rates(self, images: torch.Tensor) -> dict[str, float]:
        """Fraction of ``images`` assigned to each domain (every domain listed, zeros included)."""
        counts = Counter(self.predict(images))
        return {name: counts[name] / len(images) for name in self.classes}


def load_classifier(folder: str | Path = assets.CLASSIFIER, device: str | torch.device = "cpu") -> DomainClassifier:
    """The shipped (or any saved) classifier, in eval mode; no network needed."""
    folder = Path(folder)
    if not (folder / "model.safetensors").exists():
        raise FileNotFoundError(f"no domain classifier in {folder}: run `make tiny-world` to train one")
    model = DomainClassifier(**{k: tuple(v) if k == "classes" else v
                                for k, v in json.loads((folder / "config.json").read_text()).items()})
    model.load_state_dict(load_file(folder / "model.safetensors"))
    return model.to(device).eval()


def save_classifier(model: DomainClassifier, folder: Path, stats: dict) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps(model.config, indent=2) + "\n")
    (tmp / "train_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def labelled_batch(classes: tuple[str, ...], k: int, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = [render(name, k * per_class + i, seed) for name in classes for i in range(per_class)]
    labels = torch.arange(len(classes)).repeat_interleave(per_class)
    return to_tensor(np.stack(images)), labels


def held_out_accuracy(model: DomainClassifier, per_class: int = 500, seed: int = HELD_OUT_SEED) -> dict[str, float]:
    images, labels = labelled_batch(model.classes, 0, per_class, seed)
    predicted = model.predict(images)
    return {name: float(np.mean([p == name for p, l in zip(predicted, labels.tolist()) if l == c]))
            for c, name in enumerate(model.classes)}


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    # Samples of a diffusion model are a little noisy and soft; seeing such images in training
    # keeps the verdicts on generated images as reliable as on rendered ones.
    n = images.shape[0]
    sigma = torch.rand(n, 1, 1, 1, generator=generator) * 0.08
    blur = torch.rand(n, 1, 1, 1, generator=generator) < 0.3
    soft = torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    images = torch.where(blur, 0.5 * images + 0.5 * soft, images)
    return (images + sigma * torch.randn(images.shape, generator=generator)).clamp(-1, 1)


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = DomainClassifier(width=args.width)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    per_class = args.batch // len(model.classes)
    tick, losses = time.time(), []
    for step in range(args.steps):
        images, labels = labelled_batch(model.classes, step, per_class, TRAIN_SEED)
        loss = nn.functional.cross_entropy(model(augment(images, generator)), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            log.info("step %d/%d loss %.4f (%.1f s)", step + 1, args.steps, np.mean(losses[-50:]), time.time() - tick)
    model.eval()
    accuracy = held_out_accuracy(model)
    log.info("held-out accuracy per domain: %s", json.dumps(accuracy))
    stats = {"steps": args.steps, "batch": per_class * len(model.classes), "final_loss": float(np.mean(losses[-50:])),
             "held_out_seed": HELD_OUT_SEED, "held_out_per_domain": 500, "held_out_accuracy": accuracy,
             "train_seconds": round(time.time() - tick, 1)}
    save_classifier(model, Path(args.out), stats)


def export(run_dir: str | Path, dst: Path) -> None:
    """Copy a trained classifier's folder into the package, replacing the shipped one."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(run_dir, dst)
    log.info("exported %s -> %s", run_dir, dst)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/classifier")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=192)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--export", action="store_true", help="copy --out into the package and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.export:
        export(args.out, assets.CLASSIFIER)
    else:
        train(args)


if __name__ == "__main__":
    main()
