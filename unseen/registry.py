"""Plug-in points: where targets, built-in models and feature networks come from.

The method and the pipeline know only these interfaces (docs/design.md section 5). Concrete parts
register themselves here and the CLI (``unseen.job.cli``) wires them: the tiny world is one such
part (``unseen.worlds.tiny.plugin``), plugged in exactly as a user's dataset kind, model or feature
network would be::

    from unseen import registry
    registry.register_target_kind("my_dataset", load_my_dataset)   # target.kind=my_dataset
    registry.register_builtin_model("my_unet", Path("/models/my_unet"))  # model.pretrained=builtin:my_unet
    registry.register_feature("my_net", make_my_net)               # eval.feature=my_net
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from unseen.errors import UserError

# kind -> loader(num_references, resolution, *, name, domain, path, seed, num_eval, category, cache_dir) -> data.Target
_TARGET_KINDS: dict[str, Callable[..., Any]] = {}
# kind -> check(target config, cache_dir): what the kind can check before any work (raises UserError)
_TARGET_CHECKS: dict[str, Callable[..., Any]] = {}
# name -> a diffusers folder (unet/, scheduler/)
_BUILTIN_MODELS: dict[str, Path] = {}
# name -> factory(device) -> evaluate.FeatureNetwork
_FEATURES: dict[str, Callable[..., Any]] = {}


def register_target_kind(kind: str, loader: Callable[..., Any], check: Callable[..., Any] | None = None) -> None:
    _TARGET_KINDS[kind] = loader
    if check is not None:
        _TARGET_CHECKS[kind] = check


def target_check(kind: str) -> Callable[..., Any] | None:
    return _TARGET_CHECKS.get(kind)


_TARGET_SIZES: dict[str, Callable[..., Any]] = {}


def register_target_size(kind: str, size: Callable[..., Any]) -> None:
    """``size(target_config, cache_dir) -> int | None``: how many images a target of ``kind`` holds, where it is
    known before loading (a small target at its defaults gets a smaller K: unseen.job.choices)."""
    _TARGET_SIZES[kind] = size


def target_size(kind: str) -> Callable[..., Any] | None:
    return _TARGET_SIZES.get(kind)


def register_builtin_model(name: str, folder: Path) -> None:
    _BUILTIN_MODELS[name] = Path(folder)


def register_feature(name: str, factory: Callable[..., Any]) -> None:
    _FEATURES[name] = factory


def target_loader(kind: str) -> Callable[..., Any]:
    if kind not in _TARGET_KINDS:
        raise UserError(f"target.kind {kind!r} is not known; known kinds: {', '.join(['folder', *_TARGET_KINDS])}")
    return _TARGET_KINDS[kind]


def builtin_model(name: str) -> Path:
    if name not in _BUILTIN_MODELS:
        known = ", ".join(_BUILTIN_MODELS) or "none registered"
        raise UserError(f"unknown built-in model {name!r}; built-in models: {known}")
    return _BUILTIN_MODELS[name]


def feature_factory(name: str) -> Callable[..., Any] | None:
    return _FEATURES.get(name)


def feature_names() -> list[str]:
    return list(_FEATURES)
