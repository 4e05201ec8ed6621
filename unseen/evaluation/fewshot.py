"""The few-shot field's diversity and copy measures (CDC, DCL, DomainStudio, CRDI report them), in any space.

A *space* is a distance between two sets of items (``pairwise(a, b) -> (len a, len b)``): Euclidean between
feature vectors, or LPIPS between images. The samples arrive chunk by chunk (``Clusters.add``), so a run of
5,000 keeps only each sample's nearest reference, its distance, and at most ``per_cluster`` members a cluster.

- **intra-cluster diversity**: each sample joins the cluster of its nearest reference; within each cluster the
  mean pairwise distance of (at most 50, the first to arrive: samples are exchangeable) members; the mean and
  std over the clusters that have two members or more.
  Each cluster's own value is kept too (``cluster_diversity``, by reference), so two runs on the same references
  compare cluster by cluster (``paired_difference``).
- **nearest-reference copies**: the fraction of samples nearer their nearest reference r than r's own nearest
  other reference is to r: closer to a training image than any other training image is.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import torch

from unseen.errors import UserError

Pairwise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
PER_CLUSTER = 50


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double())


def copies(to_nearest: torch.Tensor, nearest: torch.Tensor, reference_gaps: torch.Tensor) -> torch.Tensor:
    """Per sample: nearer its nearest reference than that reference's nearest other reference is to it."""
    return to_nearest < reference_gaps[nearest]


def reference_gaps(refs: torch.Tensor, pairwise: Pairwise) -> torch.Tensor:
    """Each reference's distance to its nearest other reference (inf for a single reference)."""
    d = pairwise(refs, refs).double()
    d.fill_diagonal_(float("inf"))
    return d.min(1).values


def mean_pairwise(members: torch.Tensor, pairwise: Pairwise) -> float:
    """Mean distance over the n (n - 1) / 2 distinct pairs of ``members``."""
    n = len(members)
    d = pairwise(members, members).double()
    return float(d.triu(1).sum() / (n * (n - 1) / 2))


class Clusters:
    """Samples assigned to their nearest reference in one space, as they are made."""

    def __init__(self, refs: torch.Tensor, pairwise: Pairwise, space: str, per_cluster: int = PER_CLUSTER):
        self.refs, self.pairwise, self.space, self.per_cluster = refs, pairwise, space, per_cluster
        self.gaps = reference_gaps(refs, pairwise)
        self.members: list[list[torch.Tensor]] = [[] for _ in range(len(refs))]
        self.nearest, self.distance = [], []

    def add(self, items: torch.Tensor) -> None:
        """The next chunk of samples in this space's form (features, or images for LPIPS)."""
        d = self.pairwise(items, self.refs).double()
        dist, idx = d.min(1)
        self.nearest.append(idx.cpu())
        self.distance.append(dist.cpu())
        for i, k in enumerate(idx.tolist()):
            if len(self.members[k]) < self.per_cluster:
                self.members[k].append(items[i].detach().cpu())

    def state(self) -> dict:
        return {"members": self.members, "nearest": self.nearest, "distance": self.distance}

    def merge(self, states: list[dict]) -> "Clusters":
        """Every rank's samples, in rank (= sample) order: the same members an unsharded run keeps."""
        out = Clusters.__new__(Clusters)
        out.refs, out.pairwise, out.space, out.per_cluster, out.gaps = (self.refs, self.pairwise, self.space,
                                                                       self.per_cluster, self.gaps)
        out.members, out.nearest, out.distance = [[] for _ in range(len(self.refs))], [], []
        for s in states:
            out.nearest += s["nearest"]
            out.distance += s["distance"]
            for k, ms in enumerate(s["members"]):
                out.members[k] += ms[: self.per_cluster - len(out.members[k])]
        return out

    def result(self) -> dict:
        nearest, distance = torch.cat(self.nearest), torch.cat(self.distance)
        each = [mean_pairwise(torch.stack(m), self.pairwise) if len(m) >= 2 else None for m in self.members]
        per = [p for p in each if p is not None]
        # None (null in metrics.json), not NaN, when no cluster has two members: too few samples for the measure
        mean = sum(per) / len(per) if per else None
        std = math.sqrt(sum((p - mean) ** 2 for p in per) / len(per)) if per else None
        sizes = torch.bincount(nearest, minlength=len(self.refs))
        return {"space": self.space,
                "intra_cluster_diversity": mean, "intra_cluster_diversity_std": std,
                "cluster_diversity": each,  # by reference, null where fewer than two samples: for paired comparisons
                "clusters_scored": len(per), "num_clusters": len(self.refs), "per_cluster": self.per_cluster,
                "cluster_sizes": sizes.tolist(),
                "copies": float(copies(distance, nearest, self.gaps.cpu()).double().mean()),
                "num_samples": len(nearest)}


def paired_difference(a: list[float | None], b: list[float | None], resamples: int = 10_000,
                      seed: int = 0) -> dict:
    """Intra-cluster diversity of run a minus run b, cluster by cluster (the same references, so cluster k is the
    same reference's in both), with a bootstrap 95% interval over the clusters both scored: with ten clusters the
    spread between references dwarfs a difference of the means, which pairing removes."""
    diffs = torch.tensor([x - y for x, y in zip(a, b) if x is not None and y is not None], dtype=torch.float64)
    if len(diffs) < 2:
        return {"mean": None, "interval_95": None, "clusters": len(diffs)}
    g = torch.Generator().manual_seed(seed)
    means = diffs[torch.randint(len(diffs), (resamples, len(diffs)), generator=g)].mean(1)
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return {"mean": float(diffs.mean()), "interval_95": [low, high], "clusters": len(diffs)}


# LPIPS (torchmetrics' network; its linear layers ship with torchmetrics, the AlexNet backbone is torchvision's
# ImageNet download, which unseen never fetches: it is read from a local file).
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = f"https://download.pytorch.org/models/{ALEXNET_FILE}"
_ALEX_SLICES = {1: range(0, 2), 2: range(2, 5), 3: range(5, 8), 4: range(8, 10), 5: range(10, 12)}


def lpips_weights(path: str | None) -> Path | None:
    """The AlexNet backbone file LPIPS needs: ``path``, else torch's hub cache; None when neither has it."""
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    for c in ([Path(path).expanduser()] if path else []) + [hub / ALEXNET_FILE]:
        if c.is_file():
            return c
    return None


def check_lpips(e) -> Path | None:
    """``eval.lpips``: true needs the backbone (a one-line error before any work), null uses it where found."""
    if e.lpips is False:
        return None
    found = lpips_weights(e.lpips_weights)
    if found is None and (e.lpips or e.lpips_weights):
        where = e.lpips_weights or f"$TORCH_HOME/hub/checkpoints/{ALEXNET_FILE}"
        raise UserError(f"LPIPS needs torchvision's AlexNet weights ({ALEXNET_FILE}), not found at {where}: download "
                        f"{ALEXNET_URL} there (or set eval.lpips_weights=/path/to/{ALEXNET_FILE}), or set "
                        f"eval.lpips=false to report the few-shot measures in the feature space only")
    return found


def lpips_pairwise(weights: Path, device: torch.device | str = "cpu", batch: int = 256) -> Pairwise:
    """LPIPS (AlexNet) between every image of ``a`` and every image of ``b`` (images in [-1, 1])."""
    from torchmetrics.functional.image.lpips import _LPIPS

    net = _LPIPS(pretrained=True, net="alex", pnet_rand=True)  # no download: the backbone is loaded below
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        backbone = {f"slice{s}.{i}.{p}": state[f"features.{i}.{p}"]
                    for s, idx in _ALEX_SLICES.items() for i in idx for p in ("weight", "bias")
                    if f"features.{i}.{p}" in state}
        net.net.load_state_dict(backbone, strict=True)
    except Exception as err:  # noqa: BLE001 - a torn download, another network's file: the same to a user
        raise UserError(f"{weights} is not torchvision's AlexNet weights ({ALEXNET_FILE}): download {ALEXNET_URL} "
                        f"again, or point eval.lpips_weights at the right file ({err})") from err
    net = net.to(device).eval()

    @torch.no_grad()
    def pairwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ia, ib = torch.meshgrid(torch.arange(len(a)), torch.arange(len(b)), indexing="ij")
        ia, ib = ia.flatten(), ib.flatten()
        out = torch.cat([net(a[ia[s:s + batch]].to(device).float(), b[ib[s:s + batch]].to(device).float()).flatten()
                         for s in range(0, len(ia), batch)])
        return out.double().cpu().reshape(len(a), len(b))

    return pairwise
