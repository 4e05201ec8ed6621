"""Measure a tiny-world DDPM and record the numbers in its train_stats.json.

    python -m unseen.worlds.tiny.measure_model                       # the shipped model
    python -m unseen.worlds.tiny.measure_model --model runs/tiny_ddpm/ema --samples 256

* own-prior samples: pure noise at t = T-1, deterministic DDIM, 50 steps, x0_hat clamped to
  [-1, 1] (and, for the record, without the clamp); the shipped classifier's domain rates
  (the disk rate is the bar: >= 0.9);
* reconstruction: DDIM inversion of held-out images of every domain to t = 500 and back,
  50 steps each way, mean PSNR per domain.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from unseen.images import image_grid, psnr
from unseen.method import ddim
from unseen.models.loading import load_model
from unseen.worlds.tiny import assets
from unseen.worlds.tiny.classifier import load_classifier
from unseen.worlds.tiny.domains import DOMAINS, sample

log = logging.getLogger("unseen.evaluate")
EVAL_SEED = 5  # neither the DDPM's (0) nor the classifier's (1, 2) image stream


def own_samples(predictor: ddim.NoisePredictor, n: int, steps: int = 50, seed: int = 0,
                clip_x0: bool = True) -> torch.Tensor:
    """Deterministic DDIM from pure noise at T-1; x0_hat clamped to [-1, 1] unless ``clip_x0`` is False."""
    noise = torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return ddim.generate(predictor, noise, ddim.time_grid(predictor.num_train_timesteps - 1, steps), clip_x0=clip_x0)


def reconstruction_psnr(predictor: ddim.NoisePredictor, domain: str, n: int, t: int = 500, steps: int = 50) -> float:
    images = sample(domain, n, seed=EVAL_SEED)
    grid = ddim.time_grid(t, steps)
    recon = ddim.generate(predictor, ddim.invert(predictor, images, grid)[-1], grid)
    return float(psnr(recon, images).mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(assets.TINY_DDPM))
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--recon", type=int, default=16, help="images per domain for the reconstruction PSNR")
    parser.add_argument("--grid", default=None, help="write a PNG of the first 64 own samples here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model = load_model(args.model)
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=128)
    samples = own_samples(predictor, args.samples)
    rates = load_classifier().domain_rates(samples)
    log.info("own samples (%d, x0 clipped): %s", args.samples, json.dumps(rates))
    unclipped = load_classifier().domain_rates(own_samples(predictor, args.samples, clip_x0=False))
    log.info("own samples (%d, unclipped): %s", args.samples, json.dumps(unclipped))
    recon = {d: reconstruction_psnr(predictor, d, args.recon) for d in DOMAINS}
    log.info("reconstruction PSNR at t=500, 50 steps (%d images each): %s", args.recon, json.dumps(recon))
    if args.grid:
        image_grid([samples[:64]], columns=16).save(args.grid)
    stats_file = Path(args.model) / "train_stats.json"
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    stats["own_samples"] = {"count": args.samples, "ddim_steps": 50, "clip_x0": True, "domain_rates": rates,
                            "unclipped_domain_rates": unclipped}
    stats["reconstruction_psnr_t500"] = {"count_per_domain": args.recon, "eval_seed": EVAL_SEED, "psnr_db": recon}
    stats_file.write_text(json.dumps(stats, indent=2) + "\n")


if __name__ == "__main__":
    main()
