"""The emoji world's classifier: which category an image is (faces, flags, people, hearts and the six that
emoji_ddpm is trained on). It judges samples (rates by category in metrics.json) and its penultimate layer is
the world's offline feature network for FID/KID, as the tiny world's classifier is for the tiny world.

    python -m unseen.worlds.emoji.classifier --out runs/emoji_classifier            # train, evaluate, write
    python -m unseen.worlds.emoji.classifier --out runs/emoji_classifier --export   # copy into the package

The held-out emoji are a seeded fifth of each category's emoji NAMES: both vendors' drawings of one emoji are
on the same side, so the held-out accuracy is on emoji the classifier never saw in any vendor's hand.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unseen.images import to_tensor
from unseen.worlds.emoji import assets, data
from unseen.worlds.tiny.classifier import DomainClassifier, augment, export, load_classifier, save_classifier

log = logging.getLogger("unseen.emoji.classifier")

HELD_OUT = 0.2


def split(chosen: list[data.Item], seed: int) -> tuple[list[int], list[int]]:
    """Indices of the training and held-out images: a seeded HELD_OUT share of each class's emoji names."""
    train, held = [], []
    for cls in data.CLASSES:
        names = sorted({it.short_name for it in chosen if it.cls == cls})
        rng = np.random.default_rng([seed, data.CLASSES.index(cls)])
        out = set(rng.choice(names, size=max(1, round(HELD_OUT * len(names))), replace=False).tolist())
        for i, it in enumerate(chosen):
            if it.cls == cls:
                (held if it.short_name in out else train).append(i)
    return sorted(train), sorted(held)


def shift(images: torch.Tensor, generator: torch.Generator, max_px: int = 2) -> torch.Tensor:
    """A random translation of up to ``max_px`` pixels, the border filled with white (the emoji background)."""
    n, _, h, w = images.shape
    padded = nn.functional.pad(images, (max_px,) * 4, value=1.0)
    dx, dy = (torch.randint(0, 2 * max_px + 1, (2, n), generator=generator)).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def held_out_accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor) -> dict[str, dict]:
    predicted = model.predict(images)
    out = {}
    for c, name in enumerate(model.classes):
        mine = [p for p, l in zip(predicted, labels.tolist()) if l == c]
        out[name] = {"accuracy": float(np.mean([p == name for p in mine])) if mine else None, "count": len(mine)}
    return out


def group_accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """Held-out images of the six training categories called any of the six (the bar on emoji_ddpm's own
    samples is on the group), and target images called their own target."""
    base = {data.CLASSES.index(c) for c in data.BASE_CLASSES.values()}
    predicted = [data.CLASSES.index(p) for p in model.predict(images)]
    is_base = [l in base for l in labels.tolist()]
    hits = [(p in base) == b for p, b in zip(predicted, is_base)]
    n_base = sum(is_base)
    return {"training_categories_as_one": {"accuracy": sum(h for h, b in zip(hits, is_base) if b) / n_base,
                                           "count": n_base},
            "targets_not_called_training": {"accuracy": sum(h for h, b in zip(hits, is_base) if not b)
                                            / (len(hits) - n_base), "count": len(hits) - n_base}}


def measure(model: DomainClassifier, cache_dir, path, seed: int, resolution: int = 32) -> dict:
    """The held-out measures of a trained classifier (re-derives the split from ``seed``)."""
    folders = data.folders(cache_dir, path)
    chosen = data.items(folders, data.CLASSES)
    _, held_idx = split(chosen, seed)
    images = to_tensor(data.read(folders, [chosen[i] for i in held_idx], resolution))
    labels = torch.tensor([data.CLASSES.index(chosen[i].cls) for i in held_idx])
    return {"held_out_accuracy": held_out_accuracy(model, images, labels), **group_accuracy(model, images, labels)}


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    folders = data.folders(args.cache_dir, args.path)
    chosen = data.items(folders, data.CLASSES)
    images = to_tensor(data.read(folders, chosen, args.resolution))
    labels = torch.tensor([data.CLASSES.index(it.cls) for it in chosen])
    train_idx, held_idx = split(chosen, args.seed)
    by_class = [[i for i in train_idx if labels[i] == c] for c in range(len(data.CLASSES))]
    model = DomainClassifier(classes=data.CLASSES, width=args.width)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    per_class = args.batch // len(data.CLASSES)
    rng, tick, losses = np.random.default_rng(args.seed), time.time(), []
    for step in range(args.steps):
        # balanced batches: hearts (50 images) weigh as much as people (772)
        idx = torch.tensor(np.concatenate([rng.choice(c, per_class) for c in by_class]))
        x = images[idx]
        x = torch.where(torch.rand(len(x), 1, 1, 1, generator=generator) < 0.5, x.flip(-1), x)
        x = augment(shift(x, generator), generator)
        loss = nn.functional.cross_entropy(model(x), labels[idx], label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            log.info("step %d/%d loss %.4f (%.1f s)", step + 1, args.steps, np.mean(losses[-50:]), time.time() - tick)
    model.eval()
    accuracy = held_out_accuracy(model, images[held_idx], labels[held_idx])
    log.info("held-out accuracy per class: %s", {k: v["accuracy"] for k, v in accuracy.items()})
    stats = {"steps": args.steps, "batch": per_class * len(data.CLASSES), "final_loss": float(np.mean(losses[-50:])),
             "resolution": args.resolution, "train_images": len(train_idx), "held_out_images": len(held_idx),
             "held_out": f"a seeded {HELD_OUT:.0%} of each class's emoji names (both vendors), seed {args.seed}",
             "held_out_accuracy": accuracy, **group_accuracy(model, images[held_idx], labels[held_idx]),
             "train_seconds": round(time.time() - tick, 1),
             "packages": {v: f"{data.PACKAGES[v][0]}@{data.VERSION}" for v in data.VENDORS}}
    save_classifier(model, Path(args.out), stats)


def load(device: str | torch.device = "cpu") -> DomainClassifier:
    if not (assets.CLASSIFIER / "model.safetensors").exists():
        raise FileNotFoundError(f"no emoji classifier in {assets.CLASSIFIER}: run `make emoji-world` to train one")
    return load_classifier(assets.CLASSIFIER, device)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/emoji_classifier")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=160)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=os.environ.get("UNSEEN_CACHE", ".cache/unseen"))
    parser.add_argument("--path", default=None, help="a folder with the two npm packages (offline)")
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
