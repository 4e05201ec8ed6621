"""Geometric selection of prior draws (docs/design.md section 1, "Geometry").

For a candidate z and a random subset r_1..r_m of the references:

* distance      d(z)  = mean_i ||z - r_i||
* origin angle  a0(z) = mean_i angle(z, r_i)                (at the origin, degrees)
* pair angle    a1(z) = mean_i angle(r_i - z, r_{i+1} - z)  (at z, degrees)

The paper's code hard-codes the targets for one model and one domain; we estimate each
target from the references themselves, leave-one-out (mu_c, sd_c), and a candidate passes
criterion c when |c(z) - mu_c| <= bandwidth * sd_c. Everything is computed from inner
products (z @ R.T and R @ R.T), so a batch of N candidates never materialises N x m x D.

``optimize`` (beyond the paper; its title step) moves a draw into the band instead of
rejecting it: first its norm is scaled so that the distance criterion hits mu_d exactly
(a 1-D root, found by bisection), then normalised gradient steps on the squared excess of each
criterion over a margin inside the band, so acceptance is near 1 at any bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

CRITERIA = ("distance", "origin_angle", "pair_angle")
MODES = ("none", "reject", "optimize")


@dataclass
class GeometryTargets:
    mean: dict[str, float]
    std: dict[str, float]
    reference_values: dict[str, torch.Tensor]  # each reference's leave-one-out value, per criterion

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {c: {"mean": self.mean[c], "std": self.std[c]} for c in self.mean}


def check(g) -> None:
    """The ``geometry`` group's values."""
    from unseen.errors import UserError, check_float

    if g.mode not in MODES:
        raise UserError(f"geometry.mode must be one of {', '.join(MODES)}, got {g.mode!r}")
    check_float(g.bandwidth, "geometry.bandwidth", 0, None, "in units of the references' spread", low_open=True)
    unknown = [c for c in g.criteria if c not in CRITERIA]
    if unknown or not g.criteria:
        raise UserError(f"geometry.criteria must be a non-empty subset of {list(CRITERIA)}, got {list(g.criteria)}")
    if g.candidate_batch < 1 or g.max_candidates < 1:
        raise UserError("geometry.candidate_batch and geometry.max_candidates must be >= 1")
    if g.steps < 0:
        raise UserError(f"geometry.steps must be >= 0, got {g.steps}")
    check_float(g.step_size, "geometry.step_size", 0, None, low_open=True)
    check_float(g.margin, "geometry.margin", 0, 1, low_open=True)


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


def _band_excess(values: dict[str, torch.Tensor], targets: GeometryTargets, bandwidth: float,
                 enabled: tuple[str, ...], margin: float) -> torch.Tensor:
    """Per row: sum over criteria of (how far outside margin * band, in units of sd_c)^2; 0 inside."""
    excess = 0
    for c in enabled:
        z = (values[c] - targets.mean[c]).abs() / targets.std[c]
        excess = excess + (z - margin * bandwidth).clamp_min(0).pow(2)
    return excess


def scale_to_distance(z: torch.Tensor, refs: torch.Tensor, subsets: torch.Tensor, target: float,
                      gram: torch.Tensor | None = None, iterations: int = 60) -> torch.Tensor:
    """The scale s > 0 per row with distance(s z) = ``target`` (bisection: d(s) = mean_i |s z - r_i| is convex
    in s); a row whose smallest distance is still above the target gets (about) the s of that smallest distance."""
    lo = torch.zeros(len(z), dtype=torch.float64)
    hi = torch.full((len(z),), 4.0, dtype=torch.float64)
    zr = torch.gather(z @ refs.T, 1, subsets)
    zz = z.pow(2).sum(1, keepdim=True)
    rr = (refs.pow(2).sum(1) if gram is None else gram.diagonal())[subsets]

    def distance(s: torch.Tensor) -> torch.Tensor:
        s = s[:, None]
        return (s * s * zz + rr - 2 * s * zr).clamp_min(0).sqrt().mean(1)

    # d is convex with its minimum at s* = mean-ish of z.r / |z|^2; above s*, it grows: bisect on [s*, 4]
    s_min = (zr.mean(1) / zz[:, 0]).clamp(0, 4)
    lo = s_min
    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = distance(mid) > target
        hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
    return (lo + hi) / 2


def optimize_into_band(z: torch.Tensor, refs: torch.Tensor, subsets: torch.Tensor, targets: GeometryTargets,
                       bandwidth: float, enabled: tuple[str, ...] = CRITERIA, steps: int = 200,
                       margin: float = 0.8, step_size: float = 0.05, gram: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """Move draws z (N, D) into the band of ``targets`` (each row against its own ``subsets``); returns the moved
    draws. Rows already inside stay where they are; a row stops moving as soon as it is inside."""
    z, refs = z.to(torch.float64), refs.to(torch.float64)
    gram = refs @ refs.T if gram is None else gram
    if "distance" in enabled:
        z = z * scale_to_distance(z, refs, subsets, targets.mean["distance"], gram)[:, None]
    # Step lengths in units of the references' typical spacing, so one setting serves any model and size.
    unit = step_size * targets.mean["distance"]
    for _ in range(steps):
        x = z.detach().requires_grad_(True)
        loss = _band_excess(criteria(x, refs, subsets, gram), targets, bandwidth, enabled, margin)
        outside = loss.detach() > 0
        if not outside.any():
            break
        (grad,) = torch.autograd.grad(loss.sum(), x)
        direction = grad / grad.norm(dim=1, keepdim=True).clamp_min(1e-300)
        # A step no longer than the excess calls for: sqrt(loss) sd-units, mapped by the gradient's size.
        length = torch.minimum(torch.full_like(loss, unit), loss.detach() / grad.norm(dim=1).clamp_min(1e-300))
        z = torch.where(outside[:, None], z - length[:, None] * direction, z)
    return z.detach()
