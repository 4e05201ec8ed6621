"""The emoji world's images: vendor artwork from two npm packages, by category.

The packages (``emoji-datasource-google`` = Noto Emoji, Apache-2.0; ``emoji-datasource-twitter`` = Twemoji,
CC-BY-4.0) are fetched on first use with ``npm pack``, checked against their sha256 and unpacked into the cache
(``<cache>/emoji/<package>-<version>/``); only ``emoji.json``, the licence and ``img/<vendor>/64/`` are kept.
No image ships with unseen. Offline, point ``target.path`` at a folder holding the two ``.tgz`` files or the
two unpacked packages (``npm pack`` them on a machine with a registry).

Each image is the 64 px PNG composited on white, resized to the model's resolution (32 px by default).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from unseen.errors import UserError

VERSION = "16.0.0"
# vendor -> (npm package, sha256 of its `npm pack` tarball at VERSION)
PACKAGES = {
    "google": ("emoji-datasource-google", "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438"),
    "twitter": ("emoji-datasource-twitter", "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877"),
}
VENDORS = tuple(PACKAGES)
LICENCES = {"google": "Noto Emoji, Apache-2.0", "twitter": "Twemoji, CC-BY-4.0"}

# The categories a target can name (never seen by emoji_ddpm) ...
TARGETS = ("faces", "flags", "people", "hearts")
# ... and the ones emoji_ddpm is trained on (emoji.json's category names).
BASE = ("Animals & Nature", "Food & Drink", "Objects", "Travel & Places", "Activities", "Symbols")
# short class names for the classifier and the rates in metrics.json
BASE_CLASSES = {"Animals & Nature": "animals", "Food & Drink": "food", "Objects": "objects",
                "Travel & Places": "travel", "Activities": "activities", "Symbols": "symbols"}
CLASSES = (*TARGETS, *BASE_CLASSES.values())
NATIVE = 64  # px: the packages' image folder read


def category(row: dict) -> str | None:
    """The class of one emoji.json row, or None for rows in no class (other smileys, components)."""
    cat, sub = row["category"], row["subcategory"]
    if cat == "Smileys & Emotion":
        if sub.startswith("face-") and sub != "face-costume":
            return "faces"
        return "hearts" if sub == "heart" else None
    if cat == "Flags":
        return "flags"
    if cat == "People & Body":
        return "people"  # skin-tone variants are not rows of their own (skin_variations), so none are read
    return BASE_CLASSES.get(cat)


@dataclass(frozen=True)
class Item:
    vendor: str
    image: str  # file name in img/<vendor>/64/
    short_name: str
    cls: str

    @property
    def id(self) -> str:
        return f"{self.vendor}/{self.short_name}"


def _package_dir(root: Path, vendor: str) -> Path | None:
    """An unpacked package for ``vendor`` under ``root``: root/<name>-<version>/package, root/<name>/package,
    root/<name>, or root itself."""
    name = PACKAGES[vendor][0]
    for cand in (root / f"{name}-{VERSION}" / "package", root / name / "package", root / name, root / "package", root):
        if (cand / "emoji.json").is_file() and (cand / "img" / vendor / str(NATIVE)).is_dir():
            return cand
    return None


def sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Regular files under package/ only (no links, no "..", no absolute names: chosen above), so the tarfile data
# filter adds nothing we rely on; it is passed where it exists, as Python 3.14 will expect. Python 3.11.2 (Debian
# 12's own, inside the README's floor) predates the ``filter`` argument (3.11.4, 3.10.12).
_SAFE_EXTRACT = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _unpack(tgz: Path, vendor: str, dest: Path) -> Path:
    """Check the tarball's sha256 and unpack what is read into ``dest``/package, atomically."""
    name, digest = PACKAGES[vendor]
    if sha256(tgz) != digest:
        raise UserError(f"{tgz} is not {name}@{VERSION} (sha256 differs): delete it and fetch it again "
                        f"(npm pack {name}@{VERSION})")
    keep = ("package/emoji.json", "package/LICENSE", f"package/img/{vendor}/{NATIVE}/")
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith(keep) and ".." not in m.name]
            tar.extractall(tmp, members=members, **_SAFE_EXTRACT)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "package"


def _npm_pack(vendor: str, into: Path) -> Path:
    name = PACKAGES[vendor][0]
    how = (f"or fetch it where a registry is reachable (npm pack {name}@{VERSION}) and set target.path to the "
           f"folder holding the .tgz or its unpacked package")
    if shutil.which("npm") is None:
        raise UserError(f"the emoji world's artwork comes from npm and npm is not installed: install Node.js, {how}")
    try:
        done = subprocess.run(["npm", "pack", f"{name}@{VERSION}", "--pack-destination", str(into), "--silent"],
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as err:
        raise UserError(f"npm pack {name}@{VERSION} took over 10 minutes: check the registry, {how}") from err
    tgz = into / f"{name}-{VERSION}.tgz"
    if done.returncode != 0 or not tgz.is_file():
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"npm pack {name}@{VERSION} failed ({last}): no registry reachable? {how}")
    return tgz


def package(vendor: str, cache_dir: str | Path | None, path: str | Path | None = None) -> Path:
    """The unpacked package folder of ``vendor`` (holding emoji.json and img/): from ``path`` when given,
    else from the cache, fetched by npm on first use."""
    name = PACKAGES[vendor][0]
    if path:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise UserError(f"target.path {root} is not a folder: point it at the folder holding {name}-{VERSION}.tgz "
                            f"or its unpacked package, or set target.path=null to fetch with npm")
        found = _package_dir(root, vendor)
        if found:
            return found
        tgz = root / f"{name}-{VERSION}.tgz"
        if tgz.is_file():
            return _unpack_into_cache(tgz, vendor, cache_dir)
        raise UserError(f"target.path {root} holds neither {name}-{VERSION}.tgz nor an unpacked {name} package "
                        f"(emoji.json and img/{vendor}/{NATIVE}/): npm pack {name}@{VERSION} into it")
    if cache_dir is None:
        raise UserError("the emoji world keeps its artwork in the cache and cache_dir is null: set cache_dir, or "
                        "target.path to a folder holding the unpacked packages")
    root = Path(cache_dir) / "emoji"
    found = _package_dir(root, vendor)
    if found:
        return found
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tgz = _npm_pack(vendor, Path(tmp))
        return _unpack(tgz, vendor, root / f"{name}-{VERSION}")


def _unpack_into_cache(tgz: Path, vendor: str, cache_dir: str | Path | None) -> Path:
    name = PACKAGES[vendor][0]
    if cache_dir is None:  # no place of ours to unpack into, and a temporary one would be left behind every run
        raise UserError(f"cache_dir is null, so {tgz.name} has nowhere to be unpacked: unpack it beside itself "
                        f"(tar xzf {tgz.name} --one-top-level) or set cache_dir")
    dest_root = Path(cache_dir) / "emoji"
    found = _package_dir(dest_root, vendor)
    if found:
        return found
    dest_root.mkdir(parents=True, exist_ok=True)
    return _unpack(tgz, vendor, dest_root / f"{name}-{VERSION}")


def items(folders: dict[str, Path], classes: tuple[str, ...]) -> list[Item]:
    """Every image of ``classes`` in the vendors' packages, sorted by (class order, emoji sort order, vendor)."""
    out = []
    for vendor, folder in folders.items():
        rows = json.loads((folder / "emoji.json").read_text())
        for row in rows:
            cls = category(row)
            if cls in classes and row.get(f"has_img_{vendor}", True) and \
                    (folder / "img" / vendor / str(NATIVE) / row["image"]).is_file():
                out.append((classes.index(cls), row["sort_order"], vendor, Item(vendor, row["image"],
                                                                                row["short_name"], cls)))
    return [it for *_, it in sorted(out, key=lambda x: x[:3])]


def read(folders: dict[str, Path], chosen: list[Item], resolution: int) -> np.ndarray:
    """uint8 (N, resolution, resolution, 3): each 64 px PNG composited on white and resized."""
    out = np.empty((len(chosen), resolution, resolution, 3), np.uint8)
    for i, it in enumerate(chosen):
        out[i] = _image(str(folders[it.vendor] / "img" / it.vendor / str(NATIVE) / it.image), resolution)
    return out


@lru_cache(maxsize=8192)
def _image(file: str, resolution: int) -> np.ndarray:
    with Image.open(file) as img:
        rgba = img.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(canvas, rgba).convert("RGB")
    if rgb.size != (resolution, resolution):
        # the packages' 64 px images are already downsampled artwork; a box filter keeps edges crisp at 32 px
        rgb = rgb.resize((resolution, resolution), Image.Resampling.BOX if resolution * 2 == rgb.width
                         else Image.Resampling.BICUBIC)
    return np.asarray(rgb)


def folders(cache_dir: str | Path | None, path: str | Path | None = None) -> dict[str, Path]:
    return {v: package(v, cache_dir, path) for v in VENDORS}
