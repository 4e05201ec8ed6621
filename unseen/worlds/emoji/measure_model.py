"""Measure emoji_ddpm and record the numbers in its train_stats.json.

    python -m unseen.worlds.emoji.measure_model                         # the shipped model
    python -m unseen.worlds.emoji.measure_model --model runs/emoji_ddpm/ema --samples 512 --grid own.png

* own samples: pure noise at t = T-1, deterministic DDIM, 50 steps, x0_hat clamped to [-1, 1] (as
  ``sampler=id`` does); the emoji classifier's rates by category with Wilson intervals. The bars: >= 0.9 in
  the six training categories together, <= 0.02 faces and <= 0.02 flags;
* reconstruction: DDIM inversion of 16 images of each target category to t = 300 and back (30 steps each
  way), mean PSNR per category.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from unseen.evaluation.intervals import wilson_interval
from unseen.images import image_grid, psnr, to_tensor
from unseen.method import ddim
from unseen.models.loading import load_model
from unseen.worlds.emoji import assets, data
from unseen.worlds.emoji.classifier import load
from unseen.worlds.tiny.measure_model import own_samples

log = logging.getLogger("unseen.emoji.evaluate")


def rates_with_intervals(rates: dict[str, float], n: int) -> dict:
    base = sum(rates[c] for c in data.BASE_CLASSES.values())
    out = {"count": n, "rates": rates}
    for name, rate in [("training_categories", base), ("faces", rates["faces"]), ("flags", rates["flags"])]:
        hits = round(rate * n)
        out[name] = {"rate": hits / n, "count": hits, "interval_95": list(wilson_interval(hits, n))}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(assets.EMOJI_DDPM))
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--recon", type=int, default=16,
                        help="images per target category for the PSNR (0: skip it, keeping the recorded one)")
    parser.add_argument("--grid", default=None, help="write a PNG of the first 64 own samples here")
    parser.add_argument("--cache-dir", default=os.environ.get("UNSEEN_CACHE", ".cache/unseen"))
    parser.add_argument("--path", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model = load_model(args.model)
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=128)
    samples = own_samples(predictor, args.samples)
    own = rates_with_intervals(load().domain_rates(samples), args.samples)
    log.info("own samples (%d, x0 clipped): %s", args.samples, json.dumps(own))
    folders, grid = data.folders(args.cache_dir, args.path), ddim.stride_grid(300, 10)
    recon = {}
    for cat in data.TARGETS if args.recon > 0 else ():
        every = data.items(folders, (cat,))
        items = every[:: max(1, len(every) // args.recon)][: args.recon]
        images = to_tensor(data.read(folders, items, model.resolution))
        back = ddim.generate(predictor, ddim.invert(predictor, images, grid)[-1], grid)
        recon[cat] = float(psnr(back, images).mean())
    if recon:
        log.info("reconstruction PSNR at t=300, 30 steps (%d images each): %s", args.recon, json.dumps(recon))
    if args.grid:
        image_grid([samples[:64]], columns=16).save(args.grid)
    stats_file = Path(args.model) / "train_stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    stats["own_samples"] = {"ddim_steps": 50, "clip_x0": True, **own}
    if recon:
        stats["reconstruction_psnr_t300"] = {"count_per_category": args.recon, "psnr_db": recon}
    stats_file.write_text(json.dumps(stats, indent=2) + "\n")


if __name__ == "__main__":
    main()
