"""A run's result folder: staged, owned, and moved into place only when every stage has succeeded.

Results are written to ``<output folder>/.partial/`` and moved up at the end, so a failed run leaves no
half-written metrics or samples. The staging folder records its owner (host, pid): a second run that
points at the same folder while the first is alive is refused with one line; one whose owner died
(SIGKILL) is removed. A run writes only into a new or empty folder or an earlier unseen run's, which it
recognises by that run's manifest (``.unseen-run.json``, every file it wrote), never by file names a user
might have: anything else is refused. A rerun removes exactly the files the manifest lists as the new ones
move in, so the folder never mixes two runs and a file the user added (even under samples/) stays.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import yaml

from unseen.errors import UserError
from unseen.images import image_grid, to_uint8
from unseen.job.latents import LatentFile, save_streamed
from unseen.specs import Config

STAGING = ".partial"
MANIFEST = ".unseen-run.json"  # what a finished run wrote into its folder (relative paths)
# What Hydra, the logger and a run in progress put into a run folder beside the results: a folder holding only
# these is a run's that failed before publishing (Hydra made it, the run stopped late).
RUN_EXTRAS = frozenset({".hydra", "unseen.log", STAGING, "wandb", MANIFEST})


def check_output_folder(out: Path) -> None:
    """A run writes only into a new or empty folder, or an earlier unseen run's; anything else is refused, so no
    file of the user's (or the project's: hydra.run.dir=conf) is overwritten or deleted."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise UserError(f"the output folder {out} is a file: choose a folder (hydra.run.dir=... or output_dir=...)")
    names = sorted(os.listdir(out))
    if MANIFEST in names:
        return
    foreign = [n for n in names if n not in RUN_EXTRAS]
    if foreign:
        shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
        raise UserError(f"the output folder {out} holds files no unseen run wrote ({shown}): a run writes only into "
                        f"a new or empty folder or an earlier run's; choose another (hydra.run.dir=... or "
                        f"output_dir=...) or leave it to the default, unique per run")


def is_run_folder(out: Path) -> bool:
    """A finished unseen run's folder (its manifest is there)."""
    return (Path(out) / MANIFEST).is_file()


def written_files(out: Path) -> list[str]:
    """The files (relative paths) the finished run in ``out`` wrote, from its manifest; [] if none."""
    try:
        return list(json.loads((Path(out) / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def add_to_manifest(out: Path, paths: list[str]) -> None:
    """Files the run wrote after it published (the logger's run folder), so a rerun removes them too."""
    _write_manifest(out, [*written_files(out), *paths])


def _write_manifest(out: Path, files: list[str]) -> None:
    tmp = out / f"{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"written_by": "unseen", "files": sorted(set(files))}, indent=0) + "\n")
    os.replace(tmp, out / MANIFEST)


def remove_written(out: Path) -> None:
    """Remove what the earlier run in ``out`` wrote (its manifest's files), nothing else; folders it made
    (samples/) go only if that leaves them empty."""
    files = written_files(out)
    parents = set()
    for rel in files:
        path = out / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            continue  # a manifest names only what is inside its folder
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
        parents.update(p for p in Path(rel).parents if str(p) != ".")
    for folder in sorted(parents, key=lambda p: -len(p.parts)):
        try:
            (out / folder).rmdir()
        except OSError:
            pass  # not empty: it holds a file of the user's
    (out / MANIFEST).unlink(missing_ok=True)


def remove_if_made(out: Path) -> None:
    """After a late failure: the folder this invocation made (Hydra's record, the log, the staging folder) goes,
    unless something else was put there meanwhile."""
    out = Path(out)
    if not out.is_dir():
        return
    for name in (".hydra", STAGING, "wandb", "unseen.log"):
        path = out / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    try:
        out.rmdir()
    except OSError:
        pass


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
    check_output_folder(out)
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


OWNERLESS_GRACE = 60.0  # seconds a staging folder may lack its owner file: another run may be making it right now


def _stale(staging: Path) -> bool:
    """A staging folder whose owner was a process of this host that no longer runs, or that has had no owner for
    longer than OWNERLESS_GRACE (a run beside this one writes its owner file just after making the folder)."""
    try:
        host, pid = (staging / "owner").read_text().split()
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
        return False
    except ProcessLookupError:
        return True
    except FileNotFoundError:
        try:
            return time.time() - staging.stat().st_mtime > OWNERLESS_GRACE
        except FileNotFoundError:  # gone meanwhile: nothing to remove
            return False
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


def write(cfg: Config, staging: Path, refs: torch.Tensor, first_samples: torch.Tensor,
          recon: torch.Tensor | None, ref_latents: torch.Tensor, drawn: LatentFile, metrics: dict, split: dict,
          ref_groups: list[str] | None = None) -> None:
    """Every result file of the run, into the staging folder."""
    image_grid([refs[:32], first_samples[:64]], columns=16).save(staging / "grid.png")
    if len(first_samples):  # the 16 samples most like a reference, most first, above it: redraws show at a glance
        from unseen.evaluation import redraw

        order, nearest = redraw.most_redrawn_first(redraw.to_space(first_samples), redraw.to_space(refs), ref_groups)
        image_grid([first_samples[order[:16]], refs[nearest[order[:16]]]], columns=16).save(staging / "nearest.png")
    if recon is not None:
        image_grid([refs[: len(recon)], recon], columns=16).save(staging / "reconstruction.png")
    if cfg.save_latents:
        save_streamed(staging / "latents.safetensors", {"references": ref_latents}, {"samples": drawn})
    drawn.close()
    drawn.path.unlink()
    (staging / "split.json").write_text(json.dumps(split) + "\n")
    (staging / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False, allow_unicode=True))
    (staging / "metrics.json").write_text(json.dumps(strict_json(metrics), indent=2, allow_nan=False) + "\n")


def publish(out: Path, staging: Path) -> None:
    """Move the staged results into ``out`` and list them in its manifest; the files an earlier run there wrote
    (its manifest's) go first, and nothing else."""
    (staging / "owner").unlink()
    files = [str(p.relative_to(staging)) for p in staging.rglob("*") if not p.is_dir()]
    remove_written(out)
    for item in staging.iterdir():
        dest = out / item.name
        if item.is_dir() and dest.is_dir():  # samples/ kept a file of the user's: move ours in beside it
            for f in item.iterdir():
                os.replace(f, dest / f.name)
            item.rmdir()
        else:
            os.replace(item, dest)
    staging.rmdir()
    _write_manifest(out, files)


def disk_error(err: OSError, out: Path) -> UserError | None:
    """A full or failing disk under the output folder, as one line (None for other errors)."""
    import errno

    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        return UserError(f"writing the results into {out} failed ({err.strerror}): free space on that disk or "
                         f"choose another output folder (hydra.run.dir=...); nothing was kept")
    return None


@contextmanager
def sample_writer(folder: Path):
    """``write(images, start)``: the samples' PNGs, named by their index in the whole run, encoded in two threads
    (zlib runs outside the GIL) beside the next chunk's UNet calls instead of between them. Every write has ended
    when the block does; a failed one (a full disk) fails the run."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="png") as pool:
        pending = []

        def write(images: torch.Tensor, start: int) -> None:
            for i, img in enumerate(to_uint8(images)):
                pending.append(pool.submit(Image.fromarray(img).save, folder / f"{start + i:05d}.png"))

        yield write
        for done in pending:
            done.result()
