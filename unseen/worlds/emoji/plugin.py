"""The emoji world as a plug-in, registered exactly as the tiny world is: ``target.kind=emoji`` (one category
of the two vendors' artwork), the built-in model ``emoji_ddpm``, and the feature network ``emoji`` (its
classifier's penultimate layer), whose verdicts are the run's rates by category."""

from __future__ import annotations

from functools import lru_cache

import torch

from unseen import registry
from unseen.data import Target, check_size, split_groups
from unseen.errors import UserError
from unseen.evaluation.features import FeatureNetwork
from unseen.images import to_tensor
from unseen.worlds.emoji import assets, data
from unseen.worlds.tiny.plugin import Penultimate

SIZE = 32  # px: the classifier's (and emoji_ddpm's) resolution


@lru_cache(maxsize=None)
def _classifier(device: str):
    from unseen.worlds.emoji.classifier import load

    return load(device)


def category_rates(images: torch.Tensor) -> dict[str, float]:
    """The emoji classifier's verdict: the fraction of ``images`` in each category (all ten listed)."""
    return _classifier("cpu").domain_rates(images.cpu())


def check_category(category: str | None, domain: str | None = None) -> None:
    if domain:
        raise UserError("target.domain is for the tiny world; emoji targets name a target.category: drop "
                        "target.domain")
    if category not in data.TARGETS:
        raise UserError(f"target.category must be one of {', '.join(data.TARGETS)} (the categories emoji_ddpm never "
                        f"saw), got {category!r}")


def check_target(t, cache_dir: str | None) -> None:
    """Before any work: the category, and the two packages (fetched now if they are not in the cache)."""
    check_category(t.category, t.domain)
    folders = data.folders(cache_dir, t.path)
    # K and the held-out count against the category's size, before any work (the split itself is made later)
    check_size(len(data.items(folders, (t.category,))), t.num_references, t.num_eval,
               what=f"the emoji category {t.category!r}")


def category_size(t, cache_dir: str | None) -> int | None:
    """The category's images (both vendors); None where the category or the packages are wrong (the checks say so)."""
    try:
        return len(data.items(data.folders(cache_dir, t.path), (t.category,)))
    except (UserError, OSError, ValueError, TypeError):
        return None


def load_emoji_target(num_references: int, resolution: int, *, name: str = "emoji", domain: str | None = None,
                      path: str | None = None, seed: int = 0, num_eval: int | None = None,
                      category: str | None = None, cache_dir: str | None = None) -> Target:
    """K references of ``category`` and the held-out images (``num_eval`` None: every other one), a seeded split
    of the category's emoji by identity: both vendors' drawings of one emoji fall on one side (split.json names
    the identities), so no held-out image is a reference's twin."""
    check_category(category, domain)
    if resolution > data.NATIVE:
        raise UserError(f"emoji targets are read from the packages' {data.NATIVE} px images but the model is "
                        f"{resolution} px: use a model of at most {data.NATIVE} px")
    folders = data.folders(cache_dir, path)
    chosen = data.items(folders, (category,))
    refs, held_out, left = split_groups(chosen, identity, num_references, num_eval, seed,
                                        what=f"the emoji category {category!r}")
    images = lambda items: to_tensor(data.read(folders, items, resolution))  # noqa: E731
    return Target(name, images(refs), [it.id for it in refs], images(held_out), [it.id for it in held_out],
                  category, scorer=category_rates if resolution == SIZE else None,
                  ref_groups=[identity(it) for it in refs], eval_groups=[identity(it) for it in held_out],
                  left_out=[it.id for it in left])


def identity(item) -> str:
    """One emoji, whoever drew it: both vendors' drawings share it, and the split keeps them on one side."""
    return item.short_name


def emoji_features(device: torch.device) -> FeatureNetwork:
    """The emoji classifier's penultimate layer: the world's offline feature network for FID/KID at 32 px."""
    from unseen.worlds.emoji.classifier import load

    clf = load(device)
    return FeatureNetwork(Penultimate(clf), clf.feature_dim, "emoji", resolution=SIZE)


def register() -> None:
    registry.register_target_kind("emoji", load_emoji_target, check_target)
    registry.register_target_size("emoji", category_size)
    registry.register_builtin_model("emoji_ddpm", assets.EMOJI_DDPM)
    registry.register_feature("emoji", emoji_features)
