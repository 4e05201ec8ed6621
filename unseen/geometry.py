"""Geometric selection of prior draws (docs/design.md section 1, "Geometry").

For a candidate z and a random subset r_1..r_m of the references:

* distance      d(z)  = mean_i ||z - r_i||
* origin angle  a0(z) = mean_i angle(z, r_i)                (at the origin, degrees)
* pair angle    a1(z) = mean_i angle(r_i - z, r_{i+1} - z)  (at z, degrees)

The paper's code hard-codes the targets for one model and one domain; we estimate each
target from the references themselves, leave-one-out (mu_c, sd_c), and a candidate passes
criterion c when |c(z) - mu_c| <= bandwidth * sd_c. Everything is computed from inner
products (z @ R.T and R @ R.T), so a batch of N candidates never materialises N x m x D.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

CRITERIA = ("distance", "origin_angle", "pair_angle")
MODES = ("none", "reject")


@dataclass
class GeometryTargets:
    mean: dict[str, float]
    std: dict[str, float]
    reference_values: dict[str, torch.Tensor]  # each reference's leave-one-out value, per criterion

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {c: {"mean": self.mean[c], "std": self.std[c]} for c in self.mean}


def random_subsets(n: int, k: int, m: int, generator: torch.Generator, exclude: torch.Tensor | None = None
                   ) -> torch.Tensor:
    """(n, m) indices into k references, distinct within a row; row i avoids ``exclude[i]`` if given."""
    keys = torch.rand(n, k, generator=generator, dtype=torch.float64)
    if exclude is not None:
        keys[torch.arange(n), exclude] = math.inf
    return keys.argsort(1)[:, :m]


def _degrees(cos: torch.Tensor) -> torch.Tensor:
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def criteria(z: torch.Tensor, refs: torch.Tensor, subsets: torch.Tensor,
             ref_gram: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The three criteria for flattened candidates z (N, D) against refs (K, D) over ``subsets`` (N, m)."""
    z, refs = z.to(torch.float64), refs.to(torch.float64)
    gram = refs @ refs.T if ref_gram is None else ref_gram
    zr = torch.gather(z @ refs.T, 1, subsets)  # (N, m): z . r_i
    zz = z.pow(2).sum(1, keepdim=True)  # (N, 1)
    rr = gram.diagonal()[subsets]  # (N, m): |r_i|^2
    dist = (zz + rr - 2 * zr).clamp_min(0).sqrt()
    origin = _degrees(zr / (zz.sqrt() * rr.sqrt()).clamp_min(1e-300))
    # (r_i - z) . (r_j - z) = r_i . r_j - z . r_i - z . r_j + |z|^2, for consecutive pairs of the subset
    ri, rj = subsets[:, :-1], subsets[:, 1:]
    dot = gram[ri, rj] - zr[:, :-1] - zr[:, 1:] + zz
    pair = _degrees(dot / (dist[:, :-1] * dist[:, 1:]).clamp_min(1e-300))
    return {"distance": dist.mean(1), "origin_angle": origin.mean(1), "pair_angle": pair.mean(1)}


def geometry_targets(refs: torch.Tensor, subset_size: int, generator: torch.Generator) -> GeometryTargets:
    """mu_c and sd_c of each criterion, each reference scored against m of the others."""
    refs = refs.reshape(refs.shape[0], -1).to(torch.float64)
    k = refs.shape[0]
    if subset_size < 2:
        raise ValueError(f"geometry.subset_size must be >= 2 (the pair angle needs two references), got {subset_size}")
    if k - 1 < subset_size:
        raise ValueError(f"geometry needs more than subset_size = {subset_size} references to score each one "
                         f"against the others, got {k}: add references or lower geometry.subset_size")
    subsets = random_subsets(k, k, subset_size, generator, exclude=torch.arange(k))
    values = criteria(refs, refs, subsets)
    return GeometryTargets({c: float(v.mean()) for c, v in values.items()},
                           {c: float(v.std()) for c, v in values.items()}, values)


def within_band(values: dict[str, torch.Tensor], targets: GeometryTargets, bandwidth: float,
                enabled: tuple[str, ...] = CRITERIA) -> torch.Tensor:
    """True where every enabled criterion lies within bandwidth * sd_c of mu_c."""
    ok = torch.ones_like(next(iter(values.values())), dtype=torch.bool)
    for c in enabled:
        ok &= (values[c] - targets.mean[c]).abs() <= bandwidth * targets.std[c]
    return ok
