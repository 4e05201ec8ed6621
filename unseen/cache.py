"""A content-addressed cache of inverted references, shared by runs.

The key is (model identity, the reference images' bytes, the grid's definition). Inside a key's
folder every grid point the inversion passed is one file, ``t0200.safetensors``, written
atomically (temporary file + rename), so:

* a sweep over bandwidth (same t_M) inverts once;
* on a fixed-stride grid (``mixing.stride``), a sweep over t_M inverts once up to the largest
  t_M in total: a run for t_M = 400 that finds t = 200 cached continues from there, since DDIM
  inversion is a sequential walk and the latent at 200 is all it needs;
* a killed run resumes from the last point it wrote, and two runs racing on an empty cache both
  write identical bytes under the same names, never a torn file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unseen import ddim

log = logging.getLogger(__name__)


def images_digest(images: torch.Tensor) -> str:
    return hashlib.sha256(images.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:20]


def inversion_key(model_identity: str, images: torch.Tensor, grid_spec: str) -> str:
    text = f"{model_identity}|{images_digest(images)}|{tuple(images.shape)}|{grid_spec}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _point(folder: Path, t: int) -> Path:
    return folder / f"t{t:04d}.safetensors"


def _read(path: Path) -> torch.Tensor | None:
    """The latents of a cache point, or None (with a warning, and the file removed) when it is damaged:
    a truncated or foreign file is recomputed, never a failed run."""
    try:
        return load_file(path)["latents"]
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for torn files
        log.warning("inversion cache: %s is damaged (%s: %s); removing it and recomputing", path,
                    type(err).__name__, str(err).splitlines()[0] if str(err) else "")
        try:
            path.unlink()
        except OSError:
            pass
        return None


def _write_atomic(tensor: torch.Tensor, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file({"latents": tensor.contiguous()}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def invert_cached(predictor: ddim.NoisePredictor, images: torch.Tensor, grid: list[int], cache_dir: Path | None,
                  key: str, progress: bool = False) -> tuple[torch.Tensor, dict]:
    """The latents at grid[-1], inverting only the part of ``grid`` the cache does not hold yet.

    Returns (latents, info) with info = {"key", "resumed_from", "steps_run"}.
    """
    if cache_dir is None:
        return ddim.invert(predictor, images, grid, progress)[-1], {"key": None, "resumed_from": 0,
                                                                   "steps_run": len(grid) - 1}
    folder = Path(cache_dir) / "inversions" / key
    folder.mkdir(parents=True, exist_ok=True)
    start, x = 0, images
    for k in range(len(grid) - 1, 0, -1):
        if _point(folder, grid[k]).is_file():
            cached = _read(_point(folder, grid[k]))
            if cached is not None:
                start, x = k, cached
                break
    if start == len(grid) - 1:
        return x, {"key": key, "resumed_from": grid[-1], "steps_run": 0}
    if start:
        log.info("inversion cache: continuing from t = %d (%s)", grid[start], folder)
    trajectory = ddim.invert(predictor, x, grid[start:], progress,
                             on_step=lambda t, latent: _write_atomic(latent, _point(folder, t)))
    return trajectory[-1], {"key": key, "resumed_from": grid[start], "steps_run": len(grid) - 1 - start}
