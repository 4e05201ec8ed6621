"""Grain: the high-frequency energy of images (a 3x3 Laplacian), samples' over held-out images', with a bootstrap
interval. A mixture draw left with residual noise shows as speckle: a ratio above 1."""

from __future__ import annotations

import torch

GRAIN_DEFINITION = ("mean |4-neighbour Laplacian| over every interior pixel and channel of an image in [-1, 1]; "
                    "ratio = the samples' mean over the held-out images' mean (1: as smooth as real images)")


def grain(images: torch.Tensor) -> torch.Tensor:
    """Per-image high-frequency energy: the mean absolute response of the 3x3 Laplacian (GRAIN_DEFINITION).
    Speckle raises it everywhere; a real image's edges raise it only along them."""
    x = ((images.double().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1  # as the PNG holds it, like real images
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return lap.abs().flatten(1).mean(1)


def grain_ratio(fake: torch.Tensor, real: torch.Tensor, seed: int = 0, rounds: int = 1000) -> dict:
    """``grain`` of the samples over that of the held-out images, with a bootstrap 95% interval (both sets
    resampled with replacement)."""
    fake, real = fake.double(), real.double()
    gen = torch.Generator().manual_seed(seed)
    boot = torch.stack([fake[torch.randint(len(fake), (len(fake),), generator=gen)].mean()
                        / real[torch.randint(len(real), (len(real),), generator=gen)].mean() for _ in range(rounds)])
    low, high = torch.quantile(boot, torch.tensor([0.025, 0.975], dtype=boot.dtype)).tolist()
    return {"ratio": float(fake.mean() / real.mean()), "interval_95": [low, high], "samples": float(fake.mean()),
            "held_out": float(real.mean()), "num_samples": len(fake), "num_held_out": len(real),
            "definition": GRAIN_DEFINITION}
