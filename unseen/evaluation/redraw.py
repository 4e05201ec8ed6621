"""Redraws: samples that are one reference drawn again, told apart from new members of the domain.

A sample is a *redraw* of its nearest reference r when it lies nearer r than the same thing drawn differently
does. Where the target knows identities (the emoji world: one emoji drawn by two vendors; a folder with
``target.group_by``), "drawn differently" is measured on the data: a reference whose identity has another image
among the references (both drawings fall on the reference side of the split) has its *twin distance*; a sample is
a redraw of r when d(sample, r) < r's twin distance (references without a twin take the median twin distance).
Without identities the field's nearest-reference criterion stands in: a redraw is nearer its reference than half
the references' own median nearest-neighbour distance.

Every rate comes with its count and Wilson 95% interval, beside the same rate for held-out real images (the
floor: how often a real new member of the domain looks like a redraw). Which feature space tells a redraw best
was measured (experiments/redraw_space.py: blurred, mottled drawings and their twins); ``space`` names it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unseen.evaluation.intervals import wilson_interval

SPACE = "pixel_half"  # images average-pooled 2 x 2: the space that found a softened, mottled twin most often


def to_space(images: torch.Tensor) -> torch.Tensor:
    """Images in the redraw space (SPACE), flattened: pixels at half the resolution, which blur and fine mottle
    move least (experiments/results/redraw/space.csv: top-1 twin retrieval 0.46 on faces, 0.81 on flags at 32 px,
    against 0.41 / 0.78 in full pixels, 0.15 / 0.44 in the emoji classifier's features, 0.16 / 0.74 in the UNet's
    middle block, mild degradation)."""
    x = images.float()
    if min(x.shape[-2:]) >= 2:
        x = F.avg_pool2d(x, 2)
    return x.reshape(len(x), -1)


def nearest(queries: torch.Tensor, refs: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of each query's nearest reference (Euclidean, flattened)."""
    q, r = queries.reshape(len(queries), -1).double(), refs.reshape(len(refs), -1).double()
    dist, idx = [], []
    for part in q.split(chunk):
        d = torch.cdist(part, r)
        best = d.min(1)
        dist.append(best.values)
        idx.append(best.indices)
    return (torch.cat(dist), torch.cat(idx)) if dist else (torch.empty(0, dtype=torch.float64),
                                                           torch.empty(0, dtype=torch.long))


def twin_distances(refs: torch.Tensor, groups: list[str]) -> torch.Tensor:
    """Each reference's distance to the nearest other reference of its identity (NaN where it has none)."""
    r = refs.reshape(len(refs), -1).double()
    d = torch.cdist(r, r)
    same = torch.tensor([[a == b for b in groups] for a in groups]) & ~torch.eye(len(groups), dtype=torch.bool)
    d = torch.where(same, d, torch.full_like(d, float("inf"))).min(1).values
    return torch.where(torch.isinf(d), torch.full_like(d, float("nan")), d)


def thresholds(refs: torch.Tensor, groups: list[str] | None) -> tuple[torch.Tensor, str, int]:
    """Per reference, the distance under which a query is its redraw; the criterion's name; how many twins."""
    if groups is not None:
        twin = twin_distances(refs, groups)
        have = ~torch.isnan(twin)
        if have.any():
            return torch.where(have, twin, twin[have].quantile(0.5)), "twin", int(have.sum())
    r = refs.reshape(len(refs), -1).double()
    d = torch.cdist(r, r) + torch.diag(torch.full((len(r),), float("inf"), dtype=torch.float64))
    return torch.full((len(r),), float(d.min(1).values.quantile(0.5)) / 2, dtype=torch.float64), "nearest_reference", 0


def rate(queries, refs: torch.Tensor, limit: torch.Tensor) -> tuple[int, torch.Tensor]:
    """How many queries are redraws, and each query's distance over its nearest reference's limit (below 1: a
    redraw), for ordering. ``queries``: points, or their (distance, index) to the references already found."""
    dist, idx = queries if isinstance(queries, tuple) else nearest(queries, refs)
    ratio = dist / limit[idx]
    return int((ratio < 1).sum()), ratio


def redraws(samples, held_out: torch.Tensor | None, refs: torch.Tensor, groups: list[str] | None,
            space: str = SPACE) -> dict:
    """metrics.json's ``redraw`` section in one space: the samples' rate with its Wilson interval, the held-out
    images' (the floor), and what the criterion was. ``samples``: points in the space, or their (distance, index)
    to ``refs`` found as they were made."""
    limit, criterion, twins = thresholds(refs, groups)
    count, ratio = rate(samples, refs, limit)
    n = len(ratio)
    out = {"space": space, "criterion": criterion, "references_with_twin": twins,
           "median_limit": float(limit.quantile(0.5)), "count": count, "num_samples": n,
           "fraction": count / max(1, n), "interval_95": list(wilson_interval(count, n)),
           # distance to the nearest reference over its limit, the median: a redraw's is below 1, and how far below
           # tells a faithful copy from a loose one where the rates alone saturate
           "median_ratio": float(ratio.quantile(0.5)) if n else None}
    if held_out is not None and len(held_out):
        floor, held_ratio = rate(held_out, refs, limit)
        out.update({"held_out_count": floor, "num_held_out": len(held_out), "held_out_fraction": floor / len(held_out),
                    "held_out_interval_95": list(wilson_interval(floor, len(held_out))),
                    "held_out_median_ratio": float(held_ratio.quantile(0.5))})
    return out


def most_redrawn_first(samples: torch.Tensor, refs: torch.Tensor, groups: list[str] | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of ``samples`` ordered from the most like a reference (distance over its limit) to the least, the
    order nearest.png shows them in; and each sample's nearest reference."""
    limit, _, _ = thresholds(refs, groups)
    dist, idx = nearest(samples, refs)
    return (dist / limit[idx]).argsort(), idx
