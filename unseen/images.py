"""Images as tensors and files: the conversions every stage and the tiny world share."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W) in [-1, 1]."""
    # contiguous NCHW, not a channels-last view: the UNet's arithmetic depends on the memory layout
    return torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).contiguous().float().div(127.5).sub(1.0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-20))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def image_grid(rows: list[torch.Tensor], columns: int, pad: int = 2) -> Image.Image:
    """Rows of image sections (e.g. references | samples), each wrapped at ``columns`` images."""
    tiles = []
    for images in rows:
        arr = to_uint8(images)
        n = math.ceil(len(arr) / columns) * columns
        arr = np.concatenate([arr, np.full((n - len(arr), *arr.shape[1:]), 255, np.uint8)])
        h, w = arr.shape[1:3]
        canvas = np.full((n // columns * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
        for i, img in enumerate(arr):
            r, c = divmod(i, columns)
            canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
        tiles.append(canvas)
    sep = np.full((4 * pad, tiles[0].shape[1], 3), 128, np.uint8)
    out = np.concatenate([t for pair in zip(tiles, [sep] * len(tiles)) for t in pair][:-1])
    img = Image.fromarray(out)
    if rows[0].shape[-1] <= 64:  # small images are easier to judge enlarged
        img = img.resize((2 * img.width, 2 * img.height), Image.Resampling.NEAREST)
    return img
