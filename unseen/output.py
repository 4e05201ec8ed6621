"""A run's result folder: staged, owned, and moved into place only when every stage has succeeded.

Results are written to ``<output folder>/.partial/`` and moved up at the end, so a failed run leaves no
half-written metrics or samples. The staging folder records its owner (host, pid): a second run that
points at the same folder while the first is alive is refused with one line; one whose owner died
(SIGKILL) is removed. When a run reuses a finished run's folder, the earlier run's results (every
name in RESULTS) are removed as the new ones move in, so the folder never mixes two runs; any other
file there is left alone.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from unseen.errors import UserError
from unseen.images import image_grid
from unseen.latents import LatentFile, save_streamed

STAGING = ".partial"
# What a run writes: an earlier run's copies are removed when a new run's results move in.
RESULTS = ("samples", "grid.png", "nearest.png", "reconstruction.png", "latents.safetensors", "config.yaml",
           "metrics.json", "split.json")


def writable_dir(folder: Path, what: str) -> Path:
    """Make ``folder`` (and its parents) and prove it takes a file, or say which setting to change."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write {what} {folder} ({err.strerror or err}): point it to a writable folder") \
            from err
    return folder


def live_owner(out: Path) -> str | None:
    """'host pid' of the live run that is writing into ``out``, or None."""
    staging = out / STAGING
    if not staging.is_dir():
        return None
    return None if _stale(staging) else ((staging / "owner").read_text(errors="replace").strip() or "unknown")


def refuse_if_live(out: Path) -> None:
    owner = live_owner(out)
    if owner is not None:
        raise UserError(f"the output folder {out} is in use by a live run ({owner}): wait for it, or choose another "
                        f"folder (hydra.run.dir=... or leave it to the default, unique per run)")


def make_staging(out: Path) -> Path:
    """Make the output folder and claim its staging folder now, so an unwritable or busy place fails before the
    work. Stale staging folders of this host (owner dead) here and beside it are removed."""
    staging = writable_dir(out, "the output directory (output_dir or hydra.run.dir)") / STAGING
    for old in out.parent.glob(f"*/{STAGING}"):
        if _stale(old):
            shutil.rmtree(old, ignore_errors=True)
    try:
        staging.mkdir()  # atomic: of two runs that reach this point, one wins
    except FileExistsError:
        refuse_if_live(out)
        shutil.rmtree(staging, ignore_errors=True)  # an owner-less leftover (a crash while it was being made)
        staging.mkdir()
    except OSError as err:
        raise UserError(f"cannot write the output directory {out} ({err.strerror or err}): choose a writable "
                        f"output_dir (or hydra.run.dir)") from err
    (staging / "owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    (staging / "samples").mkdir()
    return staging


def _stale(staging: Path) -> bool:
    """A staging folder whose owner was a process of this host that no longer runs, or that has no owner."""
    try:
        host, pid = (staging / "owner").read_text().split()
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
        return False
    except (ProcessLookupError, FileNotFoundError):
        return True
    except (OSError, ValueError):
        return False


def strict_json(value):
    """``value`` with every NaN and infinity replaced by None: metrics.json is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write(cfg: DictConfig, staging: Path, refs: torch.Tensor, first_samples: torch.Tensor,
          recon: torch.Tensor | None, ref_latents: torch.Tensor, drawn: LatentFile, metrics: dict, split: dict) -> None:
    """Every result file of the run, into the staging folder."""
    image_grid([refs[:32], first_samples[:64]], columns=16).save(staging / "grid.png")
    if len(first_samples):  # each sample above its nearest reference (pixels): copies show at a glance
        from unseen.evaluate import nearest_indices

        shown = first_samples[:16]
        image_grid([shown, refs[nearest_indices(shown, refs)]], columns=16).save(staging / "nearest.png")
    if recon is not None:
        image_grid([refs[: len(recon)], recon], columns=16).save(staging / "reconstruction.png")
    if cfg.save_latents:
        save_streamed(staging / "latents.safetensors", {"references": ref_latents}, {"samples": drawn})
    drawn.close()
    drawn.path.unlink()
    (staging / "split.json").write_text(json.dumps(split) + "\n")
    (staging / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (staging / "metrics.json").write_text(json.dumps(strict_json(metrics), indent=2, allow_nan=False) + "\n")


def publish(out: Path, staging: Path) -> None:
    """Move the staged results into ``out``; an earlier run's results there go first."""
    (staging / "owner").unlink()
    for name in RESULTS:
        old = out / name
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
    for item in staging.iterdir():
        os.replace(item, out / item.name)
    staging.rmdir()


def disk_error(err: OSError, out: Path) -> UserError | None:
    """A full or failing disk under the output folder, as one line (None for other errors)."""
    import errno

    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        return UserError(f"writing the results into {out} failed ({err.strerror}): free space on that disk or "
                         f"choose another output folder (hydra.run.dir=...); nothing was kept")
    return None
