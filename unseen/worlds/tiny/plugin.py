"""The tiny world as a plug-in: its domains as a target kind, its DDPM as a built-in model, its
classifier as a feature network and as the judge of which domain a sample belongs to.

It registers through ``unseen.registry``, the same interfaces a user's dataset, model or feature
network uses; the CLI calls ``register()``. Nothing here knows the pipeline.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from unseen import registry
from unseen.data import Target
from unseen.errors import UserError
from unseen.evaluation.features import FeatureNetwork
from unseen.worlds.tiny import assets, domains

EVAL_STREAM = 1000  # held-out images come from seed + EVAL_STREAM, a stream of their own


@lru_cache(maxsize=None)
def _classifier(device: str):
    from unseen.worlds.tiny.classifier import load_classifier

    return load_classifier(device=device)


def domain_rates(images: torch.Tensor) -> dict[str, float]:
    """The shipped classifier's verdict: the fraction of ``images`` in each domain."""
    return _classifier("cpu").domain_rates(images.cpu())


def load_tiny_target(num_references: int, resolution: int, *, name: str = "target", domain: str | None = None,
                     path: str | None = None, seed: int = 0, num_eval: int | None = 0, category: str | None = None,
                     cache_dir: str | None = None) -> Target:
    if category:
        raise UserError("target.category is for emoji targets (target=emoji); tiny-world targets name a "
                        "target.domain: drop target.category")
    if num_eval is None:
        raise UserError("target.num_eval=null (every other image) needs a finite image set; the tiny world draws "
                        "without end: give a count (target.num_eval=256)")
    if domain not in domains.DOMAINS:
        raise UserError(f"target.domain {domain!r} is not a tiny-world domain; choose one of "
                        f"{', '.join(domains.DOMAINS)}")
    if resolution != domains.SIZE:
        raise UserError(f"tiny-world targets are {domains.SIZE} px but the model is {resolution} px: use a "
                        f"target folder (target=folder target.path=...) with this model")
    images = domains.sample(domain, num_references, seed=seed)
    held_out = domains.sample(domain, num_eval, seed=seed + EVAL_STREAM)
    return Target(name, images, [f"{domain}/{seed}/{i}" for i in range(num_references)], held_out,
                  [f"{domain}/{seed + EVAL_STREAM}/{i}" for i in range(num_eval)], domain, scorer=domain_rates)


class Penultimate(torch.nn.Module):
    """A classifier's penultimate layer as a module: a world's feature network for FID/KID."""

    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, x):
        return self.classifier.features(x)


def domain_features(device: torch.device) -> FeatureNetwork:
    """The classifier's penultimate layer: the offline feature network for FID/KID at 32 px."""
    from unseen.worlds.tiny.classifier import load_classifier

    clf = load_classifier(device=device)
    return FeatureNetwork(Penultimate(clf), clf.feature_dim, "domain", resolution=domains.SIZE)


def register() -> None:
    registry.register_target_kind("tiny", load_tiny_target)
    registry.register_builtin_model("tiny_ddpm", assets.TINY_DDPM)
    registry.register_builtin_model("tiny_ldm", assets.TINY_LDM)
    registry.register_feature("domain", domain_features)
