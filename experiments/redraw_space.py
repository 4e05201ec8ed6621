"""In which space is a redraw found? The calibration behind unseen.evaluation.redraw's choice of space.

The emoji world draws every emoji twice (Noto, Twemoji). Take one vendor's drawing, soften and mottle it as the
method's samples are (a Gaussian blur and a smooth random colour field, two strengths), and look for its twin, the
other vendor's drawing of the same emoji, among the other vendor's drawings of the whole category. The fraction
found first (top-1 retrieval, both directions) says how well a space tells "this emoji redrawn" from "another
emoji": pixels, pixels at 16, 8 and 4 px (blur-blind), the emoji classifier's penultimate features, and
emoji_ddpm's middle block (mean and std over space, as experiment=auto scores). Writes
experiments/results/redraw/space.csv and space.md.

    python -m experiments.redraw_space [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file (python experiments/redraw_space.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = ROOT / "experiments" / "results" / "redraw"
STRENGTHS = {"mild": (0.7, 0.08), "strong": (1.2, 0.16)}  # (blur sigma in px, colour-field amplitude)


def degrade(x: torch.Tensor, sigma: float, amplitude: float, seed: int) -> torch.Tensor:
    """Softened (Gaussian blur) and mottled (a smooth random colour field, 4 x 4 upsampled) images in [-1, 1]."""
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius,) * 4, mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    g = torch.Generator().manual_seed(seed)
    field = torch.randn(len(x), c, 4, 4, generator=g) * amplitude
    return (x + F.interpolate(field, size=x.shape[-2:], mode="bicubic", align_corners=False)).clamp(-1, 1)


def spaces(device: torch.device) -> dict:
    from unseen import prepare
    from unseen.evaluation.features import FeatureNetwork, MidBlockFeatures
    from unseen.worlds.emoji.plugin import emoji_features

    job = prepare("model=emoji_ddpm", "logger=none", target=False)
    model = job.loaded.model
    unet = FeatureNetwork(MidBlockFeatures(model.unet, "mean_std", model.space, model.conditioning), 0, "unet")
    clf = emoji_features(device)
    return {"pixel": lambda x: x.flatten(1), "pixel_16px": lambda x: F.avg_pool2d(x, 2).flatten(1),
            "pixel_8px": lambda x: F.avg_pool2d(x, 4).flatten(1), "pixel_4px": lambda x: F.avg_pool2d(x, 8).flatten(1),
            "emoji_classifier": clf, "unet_midblock": unet}


def retrieval(space, queries: torch.Tensor, gallery: torch.Tensor) -> int:
    """How many queries have their twin (the gallery image of the same index) as their nearest gallery image."""
    q, g = space(queries).double().flatten(1), space(gallery).double().flatten(1)
    return int((torch.cdist(q, g).argmin(1) == torch.arange(len(q))).sum())


def pairs(category: str, cache_dir: str | None):
    """Both vendors' drawings of every emoji of ``category`` that both drew: (google, twitter), aligned."""
    from unseen.images import to_tensor
    from unseen.worlds.emoji import data

    folders = data.folders(cache_dir)
    items = data.items(folders, (category,))
    by = {}
    for it in items:
        by.setdefault(it.short_name, {})[it.vendor] = it
    both = [v for v in by.values() if len(v) == 2]
    read = lambda vendor: to_tensor(data.read(folders, [v[vendor] for v in both], 32))  # noqa: E731
    return read("google"), read("twitter")


def main(argv: list[str] | None = None) -> None:
    from unseen.evaluation.intervals import wilson_interval

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache-dir", default=".cache/unseen")
    p.add_argument("--out", type=Path, default=OUT)
    args, _ = p.parse_known_args(argv)  # run_all.sh passes every study the same options
    torch.manual_seed(0)
    nets = spaces(torch.device("cpu"))
    rows = []
    for category in ("faces", "flags"):
        google, twitter = pairs(category, args.cache_dir)
        for strength, (sigma, amplitude) in STRENGTHS.items():
            for name, net in nets.items():
                with torch.no_grad():
                    found = (retrieval(net, degrade(google, sigma, amplitude, 1), twitter)
                             + retrieval(net, degrade(twitter, sigma, amplitude, 2), google))
                n = 2 * len(google)
                low, high = wilson_interval(found, n)
                rows.append({"category": category, "degradation": strength, "blur_sigma": sigma,
                             "mottle_amplitude": amplitude, "space": name, "queries": n, "found": found,
                             "top1": round(found / n, 4), "top1_low": round(low, 4), "top1_high": round(high, 4)})
                print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "space.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (args.out / "space.md").write_text(table(rows))
    print(f"wrote {args.out / 'space.csv'} and space.md")


def table(rows: list[dict]) -> str:
    """space.md: top-1 twin retrieval per space, category and degradation, with Wilson 95% intervals."""
    names = list(dict.fromkeys(r["space"] for r in rows))
    cols = [(r["category"], r["degradation"]) for r in rows if r["space"] == names[0]]
    head = "| space | " + " | ".join(f"{c} ({d})" for c, d in cols) + " |"
    lines = [head, "|" + " --- |" * (len(cols) + 1)]
    for name in names:
        cells = [next(r for r in rows if r["space"] == name and (r["category"], r["degradation"]) == c) for c in cols]
        lines.append(f"| {name} | " + " | ".join(f"{r['top1']:.2f} [{r['top1_low']:.2f}, {r['top1_high']:.2f}]"
                                                  for r in cells) + " |")
    n = {c: next(r["queries"] for r in rows if r["category"] == c) for c in dict.fromkeys(r["category"] for r in rows)}
    return ("\n".join(lines) + "\n\nTop-1 retrieval of the other vendor's drawing of the same emoji, among the other "
            "vendor's "
            "drawings of the category, for a softened and mottled drawing (both directions; queries: "
            + ", ".join(f"{c} {k}" for c, k in n.items()) + "; Wilson 95% intervals). Written by "
            "`python -m experiments.redraw_space`.\n")


if __name__ == "__main__":
    main()
