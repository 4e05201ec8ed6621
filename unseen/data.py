"""``load_target``: the K reference images of the unseen domain, as (K, 3, H, W) in [-1, 1]."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from unseen import registry
from unseen.errors import UserError
from unseen.images import to_tensor

log = logging.getLogger("unseen")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass
class ImageFiles:
    """Images on disk, read batch by batch when they are used: 50,000 held-out images are never in memory
    at once (at 256 px that would be 39 GB)."""

    files: list[Path]
    resolution: int

    def __len__(self) -> int:
        return len(self.files)

    def batches(self, size: int):
        for i in range(0, len(self.files), size):
            yield load_images(self.files[i:i + size], self.resolution)

    def fingerprint(self) -> str:
        """Names, sizes and modification times: changes when any file does, without reading the pixels."""
        import hashlib

        h = hashlib.sha256(str(self.resolution).encode())
        for f in self.files:
            st = f.stat()
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return h.hexdigest()[:20]


def batches(images: "torch.Tensor | ImageFiles", size: int):
    """Batches of images in memory or on disk, alike."""
    return images.split(size) if isinstance(images, torch.Tensor) else images.batches(size)


@dataclass
class Target:
    name: str
    images: torch.Tensor  # (K, 3, H, W) in [-1, 1]: the references
    ids: list[str]  # where each image came from (file name, or domain/seed/index)
    eval_images: torch.Tensor | ImageFiles  # held-out images of the same domain, disjoint from the references
    eval_ids: list[str]
    domain: str | None = None  # the domain's name where a scorer can recognise it
    # images -> {domain: fraction}: a judge of which domain samples belong to, where the target kind has one
    scorer: Callable[[torch.Tensor], dict[str, float]] | None = None
    # Where images have identities (one emoji by two vendors; target.group_by): each reference's and each held-out
    # image's identity, and the files of a split identity left out of both sides. split.json names them.
    ref_groups: list[str] | None = None
    eval_groups: list[str] | None = None
    left_out: list[str] = field(default_factory=list)

    def split(self) -> dict:
        """split.json: the references and held-out images, and their identities where the target has them."""
        out = {"references": self.ids, "held_out": self.eval_ids}
        if self.ref_groups is not None:
            out["identities"] = {"references": sorted(set(self.ref_groups)),
                                 "held_out": sorted(set(self.eval_groups or [])), "left_out": self.left_out}
        return out


def check_held_out(count: int | None, scoring: bool) -> None:
    """Scoring needs pairs of held-out images (FID's covariance, KID, diversity): at least 2, where scored.
    ``count`` None: every image that is not a reference (counted when the images are listed)."""
    if scoring and count is not None and count < 2:
        raise UserError(f"scoring the samples needs at least 2 held-out images, got target.num_eval = {count}: set "
                        f"target.num_eval >= 2 or null (every image that is not a reference), or eval=none to skip "
                        f"scoring")


def check_counts(num_references: int, num_eval: int | None) -> None:
    """K and the held-out count: the config's check and ``load_target``'s (a library caller's) alike."""
    if num_references < 1:
        raise UserError(f"target.num_references must be >= 1, got {num_references}")
    if num_eval is not None and num_eval < 0:
        raise UserError(f"target.num_eval must be >= 0 (or null: every image that is not a reference), "
                        f"got {num_eval}")


def check(t) -> None:
    """The ``target`` group's values."""
    check_counts(t.num_references, t.num_eval)
    if not 0 <= t.seed < 2**32:
        raise UserError(f"target.seed must be in [0, 2**32), got {t.seed}")


def check_files(t, num_eval: int | None, exclude: list[str] = (), cache_dir: str | None = None) -> None:
    """Before any work: a folder target's files are there, enough of them, and every chosen image's header
    opens (size within PIL's decompression-bomb limit, at least MIN_SIDE px a side); a plug-in kind's own
    check (registry.target_check), e.g. the emoji world's category and packages."""
    if t.kind != "folder":
        if t.eval_path:
            raise UserError(f"target.eval_path is for folder targets; target.kind={t.kind} has its own held-out "
                            f"images: drop target.eval_path")
        check = registry.target_check(t.kind)
        if check is not None:
            check(t, cache_dir)
        return
    refs, held_out = folder_split(t.path, t.num_references, num_eval, t.seed, t.eval_path, exclude, quiet=True,
                                  group_by=t.group_by)
    for f in [*refs, *held_out]:
        check_header(f)


def check_places(t, out: str | None) -> None:
    """A folder target and the run's output never overlap, and a target is never a run's results: the next run
    would read this run's samples as references (or held-out images)."""
    if t.kind != "folder":
        return
    out = Path(out).expanduser().resolve() if out else None
    for key, path in (("target.path", t.path), ("target.eval_path", t.eval_path)):
        if not path:
            continue
        folder = Path(path).expanduser().resolve()
        if out is not None and (out == folder or folder in out.parents):
            raise UserError(f"the output folder {out} is inside {key} {folder}: the next run would read this run's "
                            f"samples as images of the target; choose a hydra.run.dir (or output_dir) outside it")
        for parent in (folder, *folder.parents):
            if out is not None and parent == out or (parent / ".unseen-run.json").is_file() or \
                    (parent / ".hydra").is_dir() or (parent / ".partial").is_dir():
                raise UserError(f"{key} {folder} is inside unseen's run folder {parent}: a run's samples are not "
                                f"images of the target; point {key} to the images themselves")


def folder_split(path: str | None, num_references: int, num_eval: int | None, seed: int, eval_path: str | None = None,
                 exclude: list[str] = (), quiet: bool = False, group_by: str | None = None
                 ) -> tuple[list[Path], list[Path]]:
    """The reference and held-out files of a folder target: a seeded split of ``path`` (``group_by``: by identity,
    ``split_groups``); with ``eval_path``, the held-out images come from that folder instead (e.g. all of FFHQ), the
    reference files excluded."""
    files = image_files(path, exclude=exclude, quiet=quiet)
    group = group_key(group_by, Path(path).expanduser() if path else None)
    if group is not None and not eval_path:
        return split_groups(files, group, num_references, num_eval, seed)[:2]
    if not eval_path:
        return split_files(files, num_references, num_eval, seed)
    refs, _ = split_files(files, num_references, 0, seed)
    chosen = {f.resolve() for f in refs}
    pool = [f for f in image_files(eval_path, "target.eval_path", exclude, quiet) if f.resolve() not in chosen]
    _, held_out = split_files(pool, 0, num_eval, seed, what="target.eval_path (less the references)")
    return refs, held_out


def load_target(kind: str, num_references: int, resolution: int, *, name: str = "target", domain: str | None = None,
                path: str | None = None, seed: int = 0, num_eval: int | None = 0, eval_path: str | None = None,
                exclude: list[str] = (), **options) -> Target:
    """The K references (loaded) and ``num_eval`` held-out images (read when scored; None: every image that is not
    a reference). Folders: ``folder_split``, never reading ``exclude`` (the run's own output and cache folders) or
    any earlier run's results. ``options`` (e.g. ``category``, ``cache_dir``) go to a plug-in kind's loader."""
    check_counts(num_references, num_eval)
    if kind == "folder":
        if options.get("category"):
            raise UserError("target.category is for emoji targets (target=emoji); a folder is one category: drop it")
        group_by = options.get("group_by")
        refs, held_out = folder_split(path, num_references, num_eval, seed, eval_path, exclude, group_by=group_by)
        group = group_key(group_by, Path(path).expanduser() if path else None)
        return Target(name, load_images(refs, resolution), [str(f) for f in refs], ImageFiles(held_out, resolution),
                      [str(f) for f in held_out], ref_groups=[group(f) for f in refs] if group else None,
                      eval_groups=[group(f) for f in held_out] if group else None)
    if eval_path:
        raise UserError(f"target.eval_path is for folder targets; target.kind={kind} has its own held-out images")
    if options.pop("group_by", None):
        raise UserError(f"target.group_by is for folder targets; target.kind={kind} knows its own identities: drop it")
    # Any other kind is a plug-in (the tiny world registers "tiny"): same inputs, same Target out.
    return registry.target_loader(kind)(num_references, resolution, name=name, domain=domain, path=path, seed=seed,
                                        num_eval=num_eval, **options)


def _is_run_folder(folder: Path, names: list[str]) -> bool:
    """A folder unseen (or Hydra) wrote: a run's results, a staging folder, a sweep job, the cache."""
    return ".hydra" in names or ".partial" in names or "inversions" in names or ".unseen-run.json" in names or \
        ("metrics.json" in names and "config.yaml" in names) or folder.name == ".partial"


def image_files(path: str | None, key: str = "target.path", exclude: list[str] = (), quiet: bool = False
                ) -> list[Path]:
    """The image files under ``path`` (recursively), sorted; listed, not opened. The run's own output and cache
    folders (``exclude``) and any folder unseen wrote (an earlier run's samples) are left out, with a warning."""
    if not path:
        raise UserError(f"{key} is not set: point it to a folder of images ({key}=/data/ffhq)")
    folder = Path(path).expanduser()
    if folder.is_file():
        raise UserError(f"{key} {folder} is a file, not a folder of images: point {key} to the folder "
                        f"that holds the images")
    if not folder.is_dir():
        raise UserError(f"target folder {folder} does not exist: check {key}")
    files, skipped = _walk(folder, {Path(p).expanduser().resolve() for p in exclude})
    files, twice = _once_each(files)
    if twice and not quiet:
        log.warning("%s: %d image file(s) reached a second time through a link were read once", key, twice)
    if skipped and not quiet:
        log.warning("%s: left out %d folder(s) that unseen wrote (results or cache, e.g. %s), so no run reads "
                    "another's output", key, len(skipped), skipped[0])
    if not files:
        why = (f" (left out {len(skipped)} folder(s) of unseen's own output or cache, e.g. {skipped[0]}: point "
               f"{key} to the images themselves)" if skipped else "")
        raise UserError(f"target folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}){why}: "
                        f"check {key}")
    return files


def _walk(folder: Path, skip: set[Path]) -> tuple[list[Path], list[Path]]:
    """The image files under ``folder`` (linked folders followed, each real folder once: a link back up ends
    there) and the folders left out (``skip``, and any that unseen wrote)."""
    files, skipped, seen = [], [], {folder.resolve()}
    for root, dirs, names in os.walk(folder, followlinks=True):
        here = Path(root)
        for d in list(dirs):
            sub = here / d
            try:
                inside = os.listdir(sub)
            except OSError:  # unreadable: os.walk passes over it
                inside = []
            real = sub.resolve()
            if real in seen or real in skip or _is_run_folder(sub, inside):
                dirs.remove(d)
                if real not in seen:
                    skipped.append(sub)
            seen.add(real)
        files += [here / n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES and (here / n).is_file()]
    return files, skipped


def _once_each(files: list[Path]) -> tuple[list[Path], int]:
    """Sorted, each real file once (one file under two names would land among references and held-out images);
    and how many names were dropped. Sorted first, so which name is kept does not depend on the walk."""
    unique, seen = [], set()
    for f in sorted(files):
        real = f.resolve()
        if real not in seen:
            seen.add(real)
            unique.append(f)
    return unique, len(files) - len(unique)


def check_size(n: int, num_references: int, num_eval: int | None, what: str = "the folder") -> None:
    """K references and ``num_eval`` held-out images fit into ``n`` images, or one line with numbers that would."""
    if num_references + (num_eval or 0) <= n:
        return
    if n < 4:  # choices.MIN_REFERENCES + choices.MIN_HELD_OUT
        fix = "the smallest that can be run and scored holds 4 (2 references, 2 held out): add images"
    elif num_eval is None or num_eval == 0:
        fix = f"use target.num_references={n // 2} (at most {n - 2}) or add images"
    else:
        fix = (f"use e.g. target.num_references={n // 2} target.num_eval=null (every image that is not a reference "
               f"is held out), or add images")
    raise UserError(f"target.num_references + target.num_eval = {num_references} + {num_eval or 0} but {what} "
                    f"holds only {n} images: {fix}")


def split_files(files: list, num_references: int, num_eval: int | None, seed: int, what: str = "the folder"
                ) -> tuple[list, list]:
    """A seeded, disjoint choice of references and held-out evaluation images (``num_eval`` None: all the rest)."""
    check_size(len(files), num_references, num_eval, what)
    order = np.random.default_rng(seed).permutation(len(files))
    end = len(files) if num_eval is None else num_references + num_eval
    refs, held_out = order[:num_references], order[num_references:end]
    return [files[i] for i in sorted(refs)], [files[i] for i in sorted(held_out)]


def split_groups(files: list, group: Callable, num_references: int, num_eval: int | None, seed: int,
                 what: str = "the folder") -> tuple[list, list, list]:
    """``split_files`` by identity: every file of one group (one emoji's drawings by two vendors, one subject's
    photos) falls on one side, so the held-out images hold no twin of a reference. Groups are taken in a seeded
    order while they fit into the K references, then into the held-out images; where only part of a group fits
    (K is odd and the groups are pairs) the rest of it is left out of both sides (the third list), never put on
    the other side."""
    check_size(len(files), num_references, num_eval, what)
    keys: dict = {}
    for i, f in enumerate(files):
        keys.setdefault(group(f), []).append(i)
    members = list(keys.values())
    order = np.random.default_rng(seed).permutation(len(members))
    refs, held, left, pool = [], [], [], []
    for g in order:
        (refs.extend if len(refs) + len(members[g]) <= num_references else pool.append)(members[g])
    if len(refs) < num_references and pool:  # fill K exactly from the next group; its other drawings are left out
        first = pool.pop(0)
        short = num_references - len(refs)
        refs += first[:short]
        left += first[short:]
    for m in pool:
        room = len(m) if num_eval is None else num_eval - len(held)
        if room <= 0:
            break  # enough held out: the rest of the groups are not part of the split
        held += m[:room]
        left += m[room:]
    pick = lambda idx: [files[i] for i in sorted(idx)]  # noqa: E731
    return pick(refs), pick(held), pick(left)


def group_key(group_by: str | None, root: Path | None = None) -> Callable | None:
    """``target.group_by``: None (each file its own), ``folder`` (the file's folder under ``root``) or a regular
    expression whose first group (or whole match) in the file name names the identity."""
    import re

    if not group_by:
        return None
    if group_by == "folder":
        return lambda f: str(Path(f).parent.relative_to(root)) if root else str(Path(f).parent)
    try:
        pattern = re.compile(group_by)
    except re.error as err:
        raise UserError(f"target.group_by={group_by!r} is neither 'folder' nor a regular expression ({err})") from None

    def key(f) -> str:
        m = pattern.search(Path(f).name)
        return (m.group(1) if m.groups() else m.group(0)) if m else Path(f).name  # no match: a group of its own

    return key


def load_images(files: list[Path], resolution: int) -> torch.Tensor:
    """(N, 3, resolution, resolution) in [-1, 1], filled in place: one copy of the images, not a list and a stack."""
    out = torch.empty(len(files), 3, resolution, resolution)
    for i, f in enumerate(files):
        out[i] = load_image(f, resolution)
    return out


MIN_SIDE = 8  # pixels: below this an image holds too little to resize into a model's input


@contextmanager
def opened(file: Path):
    """The image file opened by PIL, its failures one UserError each (the one home of their messages)."""
    try:
        with Image.open(file) as img:
            yield img
    except Image.DecompressionBombError as err:
        raise UserError(f"image {file} is too large to open safely ({err}): resize it or remove it") from err
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise UserError(f"cannot read image {file}: {err}. Remove or replace it") from err


def check_header(file: Path) -> None:
    """The image's header opens and its size is usable: checked for every image before any work."""
    with opened(file) as img:
        size = img.size
    if min(size) < MIN_SIDE:
        raise UserError(f"image {file} is {size[0]}x{size[1]} px, too small (at least {MIN_SIDE} px a side): "
                        f"remove it")


def load_image(file: Path, resolution: int) -> torch.Tensor:
    """RGB in [-1, 1], (3, resolution, resolution): EXIF orientation applied; alpha composited on white;
    greyscale, palette and CMYK converted; 16- and 32-bit integer images scaled to 8 bits (PIL would clip them
    at 255, i.e. white); the centre square cropped, then resized, so a very wide image costs no more memory
    than a square one."""
    with opened(file) as img:
        img.load()
        img = _to_rgb(ImageOps.exif_transpose(img))
    if min(img.size) < MIN_SIDE:
        raise UserError(f"image {file} is {img.width}x{img.height} px, too small to make a {resolution} px input "
                        f"(at least {MIN_SIDE} px a side): remove it")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return to_tensor(np.asarray(img)[None])[0]


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "P", "PA") or (img.mode in ("RGB", "L") and "transparency" in img.info):
        img = img.convert("RGBA")
        canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(canvas, img)
    return img.convert("RGB")
