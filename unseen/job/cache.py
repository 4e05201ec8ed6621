"""A content-addressed cache of inverted references, shared by runs, processes and nodes.

The key is (model identity, the reference images' bytes, the grid's definition, device and
precision: bf16 on a GPU and fp32 on a CPU give different latents). Inside a key's folder a grid
point is one file, ``t0200.safetensors``, written atomically (temporary file + rename), so:

* a sweep over bandwidth (same t_M) inverts once;
* on a fixed-stride grid (``mixing.stride``), a sweep over t_M inverts once up to the largest
  t_M in total: a run for t_M = 400 that finds t = 200 cached continues from there, since DDIM
  inversion is a sequential walk and the latent at 200 is all it needs;
* a killed (or preempted and requeued) run resumes from the furthest point written;
* jobs that need the same key at the same time do not each invert: the first takes the key's
  lock file and walks; the others wait, take the point they need as soon as it is written, or
  continue the walk when the lock is released. A lock whose holder died (its pid is gone on this
  host, it was this Slurm job's before a requeue, or it has not advanced for ``UNSEEN_LOCK_STALE``
  seconds, default 900) is broken.

``keep`` bounds the disk: None keeps every grid point; N keeps the multiples of N, the final
point and the furthest point reached (for resuming), so a t_M sweep on multiples of N still
inverts once. ``max_bytes`` caps the cache folder: a write that would pass it fails with a clear
message instead of filling the disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from unseen.errors import UserError
from unseen.job.distributed import SINGLE, Dist
from unseen.method import ddim

log = logging.getLogger(__name__)

LOCK = ".lock"
POLL_SECONDS = 0.5


def images_digest(images: torch.Tensor) -> str:
    return hashlib.sha256(images.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()[:20]


def inversion_key(model_identity: str, images: torch.Tensor, grid_spec: str, device: str = "cpu",
                  precision: str = "fp32") -> str:
    text = f"{model_identity}|{images_digest(images)}|{tuple(images.shape)}|{grid_spec}|{device}|{precision}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


AUTO_KEEP = 100  # cache_keep=null above 64 px: keep the multiples of 100


def keep_policy(cache_keep: int | None, resolution: int) -> int | None:
    """The inversion points to keep on disk: ``cache_keep``, or automatic (every point up to 64 px)."""
    if cache_keep is not None:
        return None if cache_keep == 1 else cache_keep
    return None if resolution <= 64 else AUTO_KEEP


def arithmetic(mc) -> str:
    """What changes the UNet's arithmetic order, for the inversion cache's key."""
    return mc.precision + ("-channels_last" if mc.channels_last else "") + ("-compiled" if mc.compile else "")


def invert_run(cfg, predictor: ddim.NoisePredictor, model_identity: str, refs: torch.Tensor, grid: list[int],
               grid_spec: str, dist: Dist = SINGLE) -> tuple[torch.Tensor, dict]:
    """``invert_cached`` with a run's settings (cache folder, keep policy, size cap, progress)."""
    key = inversion_key(model_identity, refs, grid_spec, predictor.device.type, arithmetic(cfg.model))
    max_bytes = int(cfg.cache_max_gb * 1e9) if cfg.cache_max_gb else None
    return invert_cached(predictor, refs, grid, cfg.cache_dir, key, cfg.progress,
                         keep_policy(cfg.cache_keep, refs.shape[-1]), max_bytes, dist)


def _point(folder: Path, t: int) -> Path:
    return folder / f"t{t:04d}.safetensors"


def _read(path: Path, like: torch.Tensor) -> torch.Tensor | None:
    """The latents of a cache point, or None (with a warning, and the file removed) when it is damaged or is
    not a point of these references (shape or dtype other than ``like``'s, no ``latents`` tensor): a torn or
    foreign file is recomputed, never used and never a failed run."""
    try:
        x = load_file(path)["latents"]
        problem = None if x.shape == like.shape and x.dtype == torch.float32 else \
            f"holds {x.dtype} {tuple(x.shape)}, not float32 {tuple(like.shape)}"
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for torn files
        x, problem = None, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if problem is None:
        return x
    log.warning("inversion cache: %s is damaged or foreign (%s); removing it and recomputing", path, problem)
    path.unlink(missing_ok=True)
    return None


def _write_atomic(tensor: torch.Tensor, path: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError as err:
        raise _cache_write_error(path, err) from err
    os.close(fd)
    try:
        save_file({"latents": tensor.contiguous()}, tmp)
        os.replace(tmp, path)
    except Exception as err:  # safetensors raises its own SafetensorError for a full disk
        raise _cache_write_error(path, err) from err
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _cache_write_error(path: Path, err: Exception) -> UserError:
    return UserError(f"cannot write the inversion cache point {path} ({type(err).__name__}: "
                     f"{str(err).splitlines()[0] if str(err) else 'no space?'}): free space on that disk, or point "
                     f"cache_dir (or $UNSEEN_CACHE) elsewhere, or cache_dir=null to run without a cache")


def _size(n: int) -> str:
    """Bytes as a reader wants them: 3.1 MB, not 0.00 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else 0


def _furthest(folder: Path, grid: list[int], images: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(k, latent at grid[k]) for the furthest readable cached point; (0, images) when there is none."""
    for k in range(len(grid) - 1, 0, -1):
        if _point(folder, grid[k]).is_file():
            cached = _read(_point(folder, grid[k]), images)
            if cached is not None:
                return k, cached
    return 0, images


# --- the lock -----------------------------------------------------------------------------------------------


def _owner() -> str:
    # A Slurm job requeued after preemption keeps its SLURM_JOB_ID: its new life recognises its old lock.
    return f"{socket.gethostname()} {os.getpid()} {os.environ.get('SLURM_JOB_ID', '-')}"


def _try_lock(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(_owner())
    return True


def _lock_is_stale(lock: Path, stale_after: float) -> bool:
    try:
        host, pid, slurm_job = lock.read_text().split()
        age = time.time() - lock.stat().st_mtime
    except (OSError, ValueError):
        return False  # gone, or being written: look again
    if slurm_job != "-" and slurm_job == os.environ.get("SLURM_JOB_ID") and pid != str(os.getpid()):
        return True  # this job's own lock from before it was preempted and requeued
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
    return age > stale_after


def _stale_after() -> float:
    return float(os.environ.get("UNSEEN_LOCK_STALE", 900))


# --- the walk -----------------------------------------------------------------------------------------------


def sharded_invert_to(predictor: ddim.NoisePredictor, x: torch.Tensor, grid: list[int], progress: bool = False,
                      on_step=None, dist: Dist = SINGLE) -> torch.Tensor:
    """``ddim.invert_to`` with the images' micro-batches divided between ranks; every rank gets every point
    (gathered at each step, which is where the cache writes them)."""
    if not dist.active:
        return ddim.invert_to(predictor, x, grid, progress, on_step)
    mine = dist.my_chunks(len(x), predictor.batch_size)
    full = [x]

    def gather(t: int, latent: torch.Tensor) -> None:
        full[0] = torch.cat(dist.all_gather(latent))
        if on_step is not None:
            on_step(t, full[0])

    ddim.invert_to(predictor, x[mine], grid, progress and dist.main, gather)
    return full[0]


def _claim(folder: Path, grid: list[int], images: torch.Tensor) -> tuple[int, torch.Tensor, bool]:
    """Wait for the key's lock, or for the point we need: (start index, latent there, lock held)."""
    lock, announced = folder / LOCK, False
    while True:
        if _point(folder, grid[-1]).is_file():  # done by us earlier, or by a job we waited for
            x = _read(_point(folder, grid[-1]), images)
            if x is not None:
                return len(grid) - 1, x, False
        if _try_lock(lock):
            start, x = _furthest(folder, grid, images)
            return start, x, True
        if _lock_is_stale(lock, _stale_after()):
            log.warning("inversion cache: breaking the stale lock %s (%s)", lock, lock.read_text(errors="replace"))
            lock.unlink(missing_ok=True)
            continue
        if not announced:
            log.info("inversion cache: another job is inverting into %s; waiting for it", folder)
            announced = True
        time.sleep(POLL_SECONDS)


def invert_cached(predictor: ddim.NoisePredictor, images: torch.Tensor, grid: list[int], cache_dir: Path | None,
                  key: str, progress: bool = False, keep: int | None = None, max_bytes: int | None = None,
                  dist: Dist = SINGLE) -> tuple[torch.Tensor, dict]:
    """The latents at grid[-1], inverting only the part of ``grid`` the cache does not hold yet.

    Under torchrun every rank calls it: rank 0 alone reads the cache, holds the lock and writes points;
    the walk itself is divided between the ranks (``sharded_invert_to``).
    Returns (latents, info) with info = {"key", "resumed_from", "steps_run", "waited_seconds", "bytes"}.
    """
    if cache_dir is None:
        return sharded_invert_to(predictor, images, grid, progress, None, dist), {
            "key": None, "resumed_from": 0, "steps_run": len(grid) - 1}
    folder = Path(cache_dir) / "inversions" / key
    lock, last, started = folder / LOCK, len(grid) - 1, time.monotonic()
    if dist.main:
        folder.mkdir(parents=True, exist_ok=True)
        start, x, locked = _claim(folder, grid, images)
    start, locked = dist.broadcast((start, locked) if dist.main else None)
    if start != 0:  # every rank starts from rank 0's cached latent, or from the references
        x = dist.broadcast(x if dist.main else None)
    elif not dist.main:
        x = images
    if start == last:
        if locked:
            lock.unlink(missing_ok=True)
        return x, _info(key, grid[-1], 0, started, folder)
    try:
        if start and dist.main:
            log.info("inversion cache: continuing from t = %d (%s)", grid[start], folder)
        previous = [grid[start]]

        def write(t: int, latent: torch.Tensor) -> None:
            if max_bytes is not None:
                need = folder_bytes(folder.parent) + latent.numel() * latent.element_size()
                if need > max_bytes:
                    raise UserError(f"the inversion cache {folder.parent} would grow to {_size(need)}, over "
                                    f"cache_max_gb = {max_bytes / 1e9:g}: raise cache_max_gb, keep fewer points "
                                    f"(cache_keep=100), or delete old keys there")
            _write_atomic(latent, _point(folder, t))
            os.utime(lock)  # the heartbeat that tells waiters the walk is alive
            # Only the current point is kept beyond the keep rule: it is where a killed walk resumes.
            if keep is not None and previous[0] % keep and previous[0] != 0:
                _point(folder, previous[0]).unlink(missing_ok=True)
            previous[0] = t

        x = sharded_invert_to(predictor, x, grid[start:], progress, write if dist.main else None, dist)
        return x, _info(key, grid[start], last - start, started, folder)
    finally:
        if locked and dist.main:
            lock.unlink(missing_ok=True)


def _info(key: str, resumed_from: int, steps_run: int, started: float, folder: Path) -> dict:
    return {"key": key, "resumed_from": resumed_from, "steps_run": steps_run,
            "waited_seconds": round(time.monotonic() - started, 3) if steps_run == 0 else 0.0,
            "bytes": folder_bytes(folder) - (folder / LOCK).stat().st_size if (folder / LOCK).is_file()
            else folder_bytes(folder)}  # the points only: the lock (a host name, a pid) is not the cache
