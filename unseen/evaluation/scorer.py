"""Scores of generated samples against HELD-OUT target images (never the K references), taken as the samples are
made (``SampleScores``: features, nearest references, grain, spectrum bands, redraws, the judge's counts; merged
across torchrun ranks):

* FID and KID (torchmetrics) in the space of a feature network: InceptionV3 with torch-fidelity's
  FID weights (from a local file: they are a download), or the tiny world's domain classifier
  (its penultimate layer; offline);
* diversity: mean pairwise distance among samples, in feature and in pixel space;
* memorisation: each sample's distance to its nearest reference divided by the references' own
  mean nearest-neighbour distance; the mean and the fraction below 0.5. In pixel space, in the
  feature network's space and in the UNet's middle-block space (any model has one), because a
  shifted or recoloured copy is far in pixels but near in features;
* the diversity ratio: samples' mean pairwise distance over the held-out images' (1 = as varied as
  the domain; a prior that returns the mean image scores ~0);
* improved precision and recall (Kynkaanniemi et al. 2019, k = 3) in the FID feature space:
  fidelity (samples inside the real images' k-NN balls) and coverage of the domain (held-out
  images inside the samples' balls) told apart;
* the target rate of a domain judge with its Wilson 95% interval.

Every metric is reported with the sample counts it used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from unseen.data import batches
from unseen.evaluation import redraw
from unseen.evaluation.distances import nearest_distances
from unseen.evaluation.grain import grain
from unseen.evaluation.spectrum import band_energy

if TYPE_CHECKING:
    from unseen.evaluation.features import FeatureNetwork


def first_images(images, n: int) -> torch.Tensor:
    """The first ``n`` of a tensor of images or of an ``ImageFiles`` set (read as far as needed)."""
    if isinstance(images, torch.Tensor):
        return images[:n]
    parts, have = [], 0
    for chunk in batches(images, 64):
        if have >= n:
            break
        parts.append(chunk[: n - have])
        have += len(parts[-1])
    return torch.cat(parts) if parts else torch.empty(0)


class SampleScores:
    """What evaluation needs of the samples, taken chunk by chunk as they are generated, so the samples
    themselves are never all in memory: their features, each one's nearest-reference distance, the
    scorer's domain counts, and the first ``keep`` samples (pixel diversity and the grid). Memory:
    N x (feature dim + 1) numbers plus ``keep`` images, whatever N is."""

    def __init__(self, refs: torch.Tensor, net: "FeatureNetwork | None" = None, scorer=None, keep: int = 512,
                 unet_net: "FeatureNetwork | None" = None, clusters: list = ()):
        self.ref_images = refs
        self.refs, self.net, self.scorer, self.keep = refs.reshape(len(refs), -1), net, scorer, keep
        # few-shot clusters (evaluation.fewshot.Clusters), each fed the samples' features or the images themselves
        self.clusters = list(clusters)
        self.unet_net = unet_net  # the UNet's middle block, for memorisation in a space every model has
        self.count, self.nearest, self.features, self.kept, self.unet_features = 0, [], [], [], []
        self.grain: list[torch.Tensor] = []  # every sample's, for the grain ratio
        self.bands: list[torch.Tensor] = []  # every sample's energy per octave (unseen.evaluation.spectrum)
        # every sample's nearest reference (distance, index) in the redraw space (unseen.evaluation.redraw)
        self.redraw_refs = redraw.to_space(refs)
        self.redraw: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.domain_counts: dict[str, float] = {}

    def add(self, images: torch.Tensor) -> None:
        """The next chunk of samples, in the run's order."""
        images = images.float()
        self.nearest.append(nearest_distances(images.reshape(len(images), -1), self.refs))
        self.grain.append(grain(images))
        self.bands.append(band_energy(images))
        self.redraw.append(redraw.nearest(redraw.to_space(images), self.redraw_refs))
        if self.net is not None:
            self.features.append(self.net(images))
        if self.unet_net is not None:
            self.unet_features.append(self.features[-1] if self.unet_net is self.net else self.unet_net(images))
        for c in self.clusters:
            c.add(self.features[-1] if c.space != "lpips" else images)
        if self.scorer is not None and len(images):
            for name, rate in self.scorer(images).items():
                self.domain_counts[name] = self.domain_counts.get(name, 0.0) + rate * len(images)
        room = self.keep - sum(len(k) for k in self.kept)
        if room > 0:
            self.kept.append(images[:room].clone())
        self.count += len(images)

    def state(self) -> dict:
        """What another rank needs to merge (``merge``): small next to the samples."""
        return {"count": self.count, "nearest": self.nearest, "features": self.features, "kept": self.kept,
                "domain_counts": self.domain_counts, "unet_features": self.unet_features, "grain": self.grain,
                "bands": self.bands, "redraw": self.redraw, "clusters": [c.state() for c in self.clusters]}

    def merge(self, states: list[dict]) -> "SampleScores":
        """The scores of every rank's chunks, in rank (= sample) order."""
        merged = SampleScores(self.ref_images, self.net, self.scorer, self.keep, self.unet_net,
                              [c.merge([s["clusters"][i] for s in states]) for i, c in enumerate(self.clusters)])
        for s in states:
            merged.count += s["count"]
            merged.unet_features += s["unet_features"]
            merged.nearest += s["nearest"]
            merged.grain += s["grain"]
            merged.bands += s["bands"]
            merged.redraw += s["redraw"]
            merged.features += s["features"]
            for k in s["kept"]:
                room = merged.keep - sum(len(x) for x in merged.kept)
                if room > 0:
                    merged.kept.append(k[:room])
            for name, c in s["domain_counts"].items():
                merged.domain_counts[name] = merged.domain_counts.get(name, 0.0) + c
        return merged

    @property
    def first(self) -> torch.Tensor:
        """The first ``keep`` samples."""
        return torch.cat(self.kept) if self.kept else torch.empty(0)

    def redraw_nearest(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every sample's (distance, index) of its nearest reference in the redraw space."""
        return torch.cat([d for d, _ in self.redraw]), torch.cat([i for _, i in self.redraw])

    def fake_features(self) -> torch.Tensor:
        return torch.cat(self.features)

    def domain_rates(self) -> dict[str, float]:
        return {name: round(c) / self.count for name, c in self.domain_counts.items()}

    def domain_count(self, name: str) -> int:
        return round(self.domain_counts.get(name, 0.0))
