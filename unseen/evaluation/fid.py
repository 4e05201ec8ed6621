"""FID and KID (torchmetrics) of features computed and cached outside torchmetrics (unseen.evaluation.features)."""

from __future__ import annotations

import warnings

import torch
from torch import nn


class _Identity(nn.Module):
    """Features are computed (and cached) outside torchmetrics; it only does the statistics."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x):
        return x


def fid_kid(real: torch.Tensor, fake: torch.Tensor, kid_subset: int = 100, kid_subsets: int = 100,
            seed: int = 0) -> dict:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    dim = real.shape[1]
    # sync_on_compute off: under torchrun only rank 0 scores, with every sample already gathered
    fid = FrechetInceptionDistance(feature=_Identity(dim), reset_real_features=False, sync_on_compute=False)
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    subset = min(kid_subset, len(real), len(fake))
    if subset < kid_subset:
        warnings.warn(f"KID subset size lowered from {kid_subset} to {subset} to fit {len(fake)} samples and "
                      f"{len(real)} evaluation images", stacklevel=2)
    torch.manual_seed(seed)  # KID draws its subsets from the global generator
    with warnings.catch_warnings():  # "KID keeps every feature": known, and small here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Identity(dim), subsets=kid_subsets, subset_size=subset,
                                      sync_on_compute=False)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": subset, "num_real": len(real), "num_fake": len(fake)}
