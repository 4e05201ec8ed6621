"""Distances between sets of images or features, in chunks (an N x N matrix is never formed): diversity (mean
pairwise distance), nearest neighbours, improved precision and recall (Kynkaanniemi et al. 2019: fidelity and
coverage told apart) and memorisation (each sample's distance to its nearest reference over the references' own
mean nearest-neighbour distance; the mean and the fraction below 0.5)."""

from __future__ import annotations

import torch

CHUNK = 512  # rows of a distance matrix held at once: N x N is never formed (N = 50,000 would be 20 GB)


def _distances(a: torch.Tensor, b: torch.Tensor):
    """(start, block) over row blocks of the a-to-b Euclidean distance matrix, in float64; ``b`` is converted
    a block at a time too, so no float64 copy of either set is made."""
    for start in range(0, len(a), CHUNK):
        rows = a[start:start + CHUNK].double()
        yield start, torch.cat([torch.cdist(rows, b[j:j + CHUNK].double()) for j in range(0, len(b), CHUNK)], dim=1)


def mean_pairwise_distance(x: torch.Tensor) -> float:
    flat = x.reshape(len(x), -1)
    n = len(x)
    if n < 2:
        return float("nan")
    return float(sum(block.sum() for _, block in _distances(flat, flat)) / (n * (n - 1)))


def nearest_distances(a: torch.Tensor, b: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
    """Each row of ``a``'s distance to its nearest row of ``b`` (to another row, with ``exclude_self``)."""
    out = []
    for start, block in _distances(a, b):
        if exclude_self:
            rows = torch.arange(len(block))
            block[rows, start + rows] = float("inf")
        out.append(block.min(1).values)
    return torch.cat(out)


def nearest_indices(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Each row of ``a``'s nearest row of ``b`` (flattened), by index."""
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return torch.cat([block.argmin(1) for _, block in _distances(flat_a, flat_b)])


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's distance to its k-th nearest other row (the radius of its ball in the P&R manifold)."""
    out = []
    for start, block in _distances(x, x):
        rows = torch.arange(len(block))
        block[rows, start + rows] = float("inf")
        out.append(block.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, whether it lies in some ball (centre, radius)."""
    hit = []
    for _, block in _distances(points, centres):
        hit.append((block <= radii[None, :]).any(1))
    return torch.cat(hit)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake manifold), each
    manifold the union of its points' balls out to their k-th nearest neighbour."""
    k = min(k, len(real) - 1, len(fake) - 1)
    if k < 1:
        return {"precision": float("nan"), "recall": float("nan"), "k": k}
    precision = _inside(fake, real, kth_neighbour_radius(real, k)).double().mean()
    recall = _inside(real, fake, kth_neighbour_radius(fake, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k, "num_real": len(real),
            "num_fake": len(fake)}


def memorisation(samples: torch.Tensor, refs: torch.Tensor) -> dict:
    return memorisation_from(nearest_distances(samples.reshape(len(samples), -1), refs.reshape(len(refs), -1)), refs)


def memorisation_from(to_ref: torch.Tensor, refs: torch.Tensor) -> dict:
    """``memorisation`` from each sample's nearest-reference distance (computed as the samples were made);
    ``refs`` are the references in the same space (images or features)."""
    r = refs.reshape(len(refs), -1)
    ref_nn = nearest_distances(r, r, exclude_self=True).mean()
    ratio = to_ref / ref_nn
    return {"mean_ratio": float(ratio.mean()), "fraction_below_0.5": float((ratio < 0.5).double().mean()),
            "reference_nn_distance": float(ref_nn), "num_samples": len(to_ref), "num_references": len(refs)}


def feature_memorisation(fake: torch.Tensor, ref_features: torch.Tensor, held_features: torch.Tensor | None = None
                         ) -> dict:
    """``memorisation`` in a feature space; with held-out images' features, their own fraction below 0.5 (the
    level real, unseen images of the domain reach)."""
    out = memorisation_from(nearest_distances(fake, ref_features), ref_features)
    if held_features is not None and len(held_features):
        out["held_out_fraction_below_0.5"] = memorisation(held_features, ref_features)["fraction_below_0.5"]
    return out
