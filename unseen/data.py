"""``load_target``: the K reference images of the unseen domain, as (K, 3, H, W) in [-1, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from unseen import registry
from unseen.errors import UserError
from unseen.images import to_tensor

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class Target:
    name: str
    images: torch.Tensor  # (K, 3, H, W) in [-1, 1]: the references
    ids: list[str]  # where each image came from (file name, or domain/seed/index)
    eval_images: torch.Tensor  # held-out images of the same domain, disjoint from the references
    eval_ids: list[str]
    domain: str | None = None  # the domain's name where a scorer can recognise it
    # images -> {domain: fraction}: a judge of which domain samples belong to, where the target kind has one
    scorer: Callable[[torch.Tensor], dict[str, float]] | None = None


def load_target(kind: str, num_references: int, resolution: int, *, name: str = "target", domain: str | None = None,
                path: str | None = None, seed: int = 0, num_eval: int = 0) -> Target:
    if num_references < 1:
        raise UserError(f"target.num_references must be >= 1, got {num_references}")
    if num_eval < 0:
        raise UserError(f"target.num_eval must be >= 0, got {num_eval}")
    if kind == "folder":
        refs, held_out = split_files(image_files(path), num_references, num_eval, seed)
        return Target(name, _stack([load_image(f, resolution) for f in refs], resolution), [str(f) for f in refs],
                      _stack([load_image(f, resolution) for f in held_out], resolution), [str(f) for f in held_out])
    # Any other kind is a plug-in (the tiny world registers "tiny"): same inputs, same Target out.
    return registry.target_loader(kind)(num_references, resolution, name=name, domain=domain, path=path, seed=seed,
                                        num_eval=num_eval)


def image_files(path: str | None) -> list[Path]:
    if not path:
        raise UserError("target.path is not set: point it to a folder of images (target.path=/data/ffhq)")
    folder = Path(path).expanduser()
    if folder.is_file():
        raise UserError(f"target.path {folder} is a file, not a folder of images: point target.path to the folder "
                        f"that holds the images")
    if not folder.is_dir():
        raise UserError(f"target folder {folder} does not exist: check target.path")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise UserError(f"target folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}): "
                        f"check target.path")
    return files


def split_files(files: list[Path], num_references: int, num_eval: int, seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded, disjoint choice of references and held-out evaluation images."""
    if num_references + num_eval > len(files):
        raise UserError(f"target.num_references + target.num_eval = {num_references} + {num_eval} but the folder "
                        f"holds only {len(files)} images: lower them or add images")
    order = np.random.default_rng(seed).permutation(len(files))
    refs, held_out = order[:num_references], order[num_references:num_references + num_eval]
    return [files[i] for i in sorted(refs)], [files[i] for i in sorted(held_out)]


def _stack(images: list[torch.Tensor], resolution: int) -> torch.Tensor:
    return torch.stack(images) if images else torch.empty(0, 3, resolution, resolution)


def load_image(file: Path, resolution: int) -> torch.Tensor:
    """RGB (alpha composited on white, greyscale expanded), shorter side resized, centre-cropped."""
    try:
        with Image.open(file) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "P"):
                img = img.convert("RGBA")
                canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(canvas, img)
            img = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserError(f"cannot read image {file}: {err}. Remove or replace it") from err
    scale = resolution / min(img.size)
    size = (max(resolution, round(img.width * scale)), max(resolution, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (img.width - resolution) // 2, (img.height - resolution) // 2
    img = img.crop((left, top, left + resolution, top + resolution))
    return to_tensor(np.asarray(img)[None])[0]
