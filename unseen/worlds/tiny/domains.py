"""Procedural 32x32 RGB image domains, deterministic per (domain, seed, index).

Two kinds, because the method behaves differently on them:

* unaligned (disks, squares, stripes, letters): random colours, sizes and positions;
* aligned (smileys, crosses): the object centred with a pixel or two of jitter and colours
  from a per-domain palette with small jitter, like the paper's aligned face datasets.
  A Gaussian around the mean inverted latent only carries shape when the domain is aligned.

Every image is drawn at ``SUPERSAMPLE`` times the resolution and box-filtered down, so edges
are anti-aliased the same way at every size. Objects always lie wholly inside the frame and
the foreground colour is always far from the background colour.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from unseen.images import to_tensor

SIZE = 32
SUPERSAMPLE = 4
MIN_CONTRAST = 0.5  # minimum RGB distance (colours in [0, 1]) between foreground and background

Colour = tuple[float, float, float]
Painter = Callable[[np.random.Generator, ImageDraw.ImageDraw, ImageDraw.ImageDraw, int], Colour]


@dataclass(frozen=True)
class Domain:
    name: str
    aligned: bool
    paint: Painter  # draws the object on (rgb, mask) canvases, returns the background colour
    description: str


def _random_colours(rng: np.random.Generator) -> tuple[Colour, Colour]:
    bg = rng.uniform(0.0, 1.0, 3)
    while True:  # rejection keeps the draw uniform over the admissible pairs
        fg = rng.uniform(0.0, 1.0, 3)
        if np.linalg.norm(fg - bg) >= MIN_CONTRAST:
            return tuple(fg), tuple(bg)


def _jitter(rng: np.random.Generator, colour: Colour, amount: float) -> Colour:
    return tuple(np.clip(np.asarray(colour) + rng.uniform(-amount, amount, 3), 0.0, 1.0))


def _rgb(colour: Colour) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colour)


def _ellipse(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, fill) -> None:
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)


# --- unaligned -------------------------------------------------------------------------------


def _paint_disk(rng, rgb, mask, s):
    fg, bg = _random_colours(rng)
    r = rng.uniform(5.0, 12.0)
    cx, cy = rng.uniform(r + 1.0, SIZE - r - 1.0, 2)
    for draw, fill in ((rgb, _rgb(fg)), (mask, 255)):
        _ellipse(draw, cx * s, cy * s, r * s, fill)
    return bg


def _paint_square(rng, rgb, mask, s):
    fg, bg = _random_colours(rng)
    side = rng.uniform(9.0, 19.0)
    angle = rng.uniform(0.0, np.pi / 2)
    half_diag = side / np.sqrt(2.0)
    cx, cy = rng.uniform(half_diag + 1.0, SIZE - half_diag - 1.0, 2)
    corners = [
        ((cx + half_diag * np.cos(angle + k * np.pi / 2)) * s, (cy + half_diag * np.sin(angle + k * np.pi / 2)) * s)
        for k in range(4)
    ]
    for draw, fill in ((rgb, _rgb(fg)), (mask, 255)):
        draw.polygon(corners, fill=fill)
    return bg


def _paint_stripes(rng, rgb, mask, s):
    fg, bg = _random_colours(rng)
    period = rng.uniform(5.0, 11.0)
    angle = rng.uniform(0.0, np.pi)
    phase = rng.uniform(0.0, period)
    normal = np.array([np.cos(angle), np.sin(angle)])
    along = np.array([-normal[1], normal[0]])
    centre = np.array([SIZE / 2, SIZE / 2])
    reach = SIZE  # long enough to cross the frame at any angle
    for k in range(-int(SIZE / period) - 2, int(SIZE / period) + 3):
        offset = k * period + phase - SIZE / 2
        a, b = offset, offset + period / 2
        poly = [centre + a * normal - reach * along, centre + b * normal - reach * along,
                centre + b * normal + reach * along, centre + a * normal + reach * along]
        poly = [(float(x) * s, float(y) * s) for x, y in poly]
        for draw, fill in ((rgb, _rgb(fg)), (mask, 255)):
            draw.polygon(poly, fill=fill)
    return bg


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
              "DejaVuSansMono-Bold.ttf")


@lru_cache(maxsize=None)
def _font_dir() -> Path:
    import matplotlib  # the fonts ship with matplotlib, so letters need no download

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=None)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_font_dir() / name), px)


def _paint_letter(rng, rgb, mask, s):
    fg, bg = _random_colours(rng)
    letter = LETTERS[rng.integers(len(LETTERS))]
    font = _font(FONT_FILES[rng.integers(len(FONT_FILES))], int(rng.integers(16, 27)) * s)
    left, top, right, bottom = font.getbbox(letter)
    width, height = right - left, bottom - top
    margin = s
    x = rng.uniform(margin, SIZE * s - width - margin) - left
    y = rng.uniform(margin, SIZE * s - height - margin) - top
    for draw, fill in ((rgb, _rgb(fg)), (mask, 255)):
        draw.text((x, y), letter, font=font, fill=fill)
    return bg


# --- aligned ---------------------------------------------------------------------------------

SMILEY_FACE, SMILEY_BG, SMILEY_FEATURES = (0.96, 0.84, 0.18), (0.62, 0.80, 0.95), (0.16, 0.10, 0.06)
CROSS_FG, CROSS_BG = (0.84, 0.14, 0.16), (0.94, 0.93, 0.88)
PALETTE_JITTER, CENTRE_JITTER = 0.08, 1.5


def _paint_smiley(rng, rgb, mask, s):
    face, bg = _jitter(rng, SMILEY_FACE, PALETTE_JITTER), _jitter(rng, SMILEY_BG, PALETTE_JITTER)
    ink = _rgb(_jitter(rng, SMILEY_FEATURES, PALETTE_JITTER / 2))
    cx, cy = SIZE / 2 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER, 2)
    r = rng.uniform(10.5, 11.5)
    _ellipse(rgb, cx * s, cy * s, r * s, _rgb(face))
    _ellipse(mask, cx * s, cy * s, r * s, 255)
    for side in (-1, 1):
        _ellipse(rgb, (cx + side * 0.38 * r) * s, (cy - 0.3 * r) * s, 0.15 * r * s, ink)
    mouth = 0.55 * r
    rgb.arc([(cx - mouth) * s, (cy - mouth + 0.05 * r) * s, (cx + mouth) * s, (cy + mouth + 0.05 * r) * s],
            start=20, end=160, fill=ink, width=int(0.14 * r * s))
    return bg


def _paint_cross(rng, rgb, mask, s):
    fg, bg = _jitter(rng, CROSS_FG, PALETTE_JITTER), _jitter(rng, CROSS_BG, PALETTE_JITTER)
    cx, cy = SIZE / 2 + rng.uniform(-CENTRE_JITTER, CENTRE_JITTER, 2)
    arm, half_width = rng.uniform(10.0, 11.0), rng.uniform(2.8, 3.4)
    for draw, fill in ((rgb, _rgb(fg)), (mask, 255)):
        draw.rectangle([(cx - arm) * s, (cy - half_width) * s, (cx + arm) * s, (cy + half_width) * s], fill=fill)
        draw.rectangle([(cx - half_width) * s, (cy - arm) * s, (cx + half_width) * s, (cy + arm) * s], fill=fill)
    return bg


DOMAINS: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("disks", False, _paint_disk, "a disk of random colour, size and position"),
        Domain("squares", False, _paint_square, "a rotated square of random colour, size and position"),
        Domain("stripes", False, _paint_stripes, "parallel stripes of random colour, period and angle"),
        Domain("letters", False, _paint_letter, "a capital letter in a DejaVu font, random colour and place"),
        Domain("smileys", True, _paint_smiley, "a centred yellow face with eyes and a mouth on light blue"),
        Domain("crosses", True, _paint_cross, "a centred red cross on off-white"),
    )
}
UNALIGNED = tuple(n for n, d in DOMAINS.items() if not d.aligned)
ALIGNED = tuple(n for n, d in DOMAINS.items() if d.aligned)


def _domain(name: str) -> Domain:
    if name not in DOMAINS:
        raise ValueError(f"unknown tiny-world domain {name!r}; choose one of {', '.join(DOMAINS)}")
    return DOMAINS[name]


def render_with_mask(domain: str, index: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image ``index`` of ``domain`` under ``seed``: (H, W, 3) uint8 and its (H, W) float mask in [0, 1]."""
    spec = _domain(domain)
    # Keyed by the domain's name (not its position in DOMAINS) so adding a domain changes no image.
    rng = np.random.default_rng([seed, zlib.crc32(domain.encode()), index])
    big = SIZE * SUPERSAMPLE
    rgb_img = Image.new("RGB", (big, big))
    mask_img = Image.new("L", (big, big), 0)
    rgb_draw, mask_draw = ImageDraw.Draw(rgb_img), ImageDraw.Draw(mask_img)
    bg = spec.paint(rng, rgb_draw, mask_draw, SUPERSAMPLE)
    # The mask covers the whole object (interior details such as eyes lie inside it), so it is
    # the alpha that puts the painted object on its background.
    composite = Image.composite(rgb_img, Image.new("RGB", (big, big), _rgb(bg)), mask_img)
    image = np.asarray(composite.resize((SIZE, SIZE), Image.Resampling.BOX))
    mask = np.asarray(mask_img.resize((SIZE, SIZE), Image.Resampling.BOX), dtype=np.float32) / 255.0
    return image, mask


def render(domain: str, index: int, seed: int = 0) -> np.ndarray:
    """Image ``index`` of ``domain`` under ``seed`` as (H, W, 3) uint8."""
    return render_with_mask(domain, index, seed)[0]


def sample(domain: str, n: int, seed: int = 0, start: int = 0) -> torch.Tensor:
    """Images ``start .. start+n-1`` of ``domain`` as a float tensor (n, 3, 32, 32) in [-1, 1]."""
    if n == 0:
        return torch.empty(0, 3, SIZE, SIZE)
    return to_tensor(np.stack([render(domain, start + i, seed) for i in range(n)]))


class DomainDataset(torch.utils.data.Dataset):
    """A domain as a map-style dataset of any length; item i is always the same image."""

    def __init__(self, domain: str, length: int, seed: int = 0, label: int | None = None):
        _domain(domain)
        self.domain, self.length, self.seed, self.label = domain, length, seed, label

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        if not 0 <= index < self.length:
            raise IndexError(index)
        image = to_tensor(render(self.domain, index, self.seed)[None])[0]
        return image if self.label is None else (image, self.label)
