"""Symmetries of a domain applied to latents at t_M: a way to inject domain knowledge (docs/design.md s.1).

Each transform is ORTHOGONAL on the latent: a cyclic shift, a mirror, a rotation of colour about the grey
axis. So it keeps the latent's norm and maps the model's own Gaussian noise to Gaussian noise of the same
law, while it moves, mirrors or recolours the image the latent encodes. A user who knows that objects of
the domain appear anywhere, either way round or in any colour says so with ``prior.symmetries``; aligned
domains (faces) have none of these and should leave the list empty.

* ``shift`` -- a cyclic shift by up to ``max_shift`` of the side in each direction;
* ``hflip`` / ``vflip`` -- a mirror, with probability 1/2;
* ``rot90`` -- a rotation by 0, 90, 180 or 270 degrees (square latents);
* ``hue``   -- a rotation of the (centred) RGB vector about the grey axis by a uniform angle (3 channels).
"""

from __future__ import annotations

import math

import torch

SYMMETRIES = ("shift", "hflip", "vflip", "rot90", "hue")


def hue_rotations(angles: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) rotations about the grey axis (1, 1, 1) / sqrt(3) by ``angles`` (radians): Rodrigues' formula."""
    u = torch.full((3,), 1 / math.sqrt(3), dtype=angles.dtype)
    cross = torch.tensor([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]], dtype=angles.dtype)
    s, c = angles.sin()[:, None, None], angles.cos()[:, None, None]
    return torch.eye(3, dtype=angles.dtype) + s * cross + (1 - c) * (cross @ cross)


def apply_symmetries(z: torch.Tensor, names: list[str] | tuple[str, ...], generator: torch.Generator,
                     max_shift: float = 0.15) -> torch.Tensor:
    """A random element of the group ``names`` generate, applied to each latent of z (N, C, H, W)."""
    unknown = [n for n in names if n not in SYMMETRIES]
    if unknown:
        raise ValueError(f"unknown symmetries {unknown}; choose from {', '.join(SYMMETRIES)}")
    n, channels, height, width = z.shape
    # Every random number is drawn whether used or not, so a sample's transform depends on its index alone.
    sy = torch.randint(-int(max_shift * height), int(max_shift * height) + 1, (n,), generator=generator)
    sx = torch.randint(-int(max_shift * width), int(max_shift * width) + 1, (n,), generator=generator)
    flips = torch.rand(n, 2, generator=generator) < 0.5
    angles = torch.rand(n, generator=generator, dtype=torch.float64) * 2 * math.pi
    quarters = torch.randint(4, (n,), generator=generator)
    out = z.clone()
    if "shift" in names:
        rows = (torch.arange(height)[None, :] - sy[:, None]) % height  # (N, H): cyclic, so nothing is lost
        cols = (torch.arange(width)[None, :] - sx[:, None]) % width
        out = out[torch.arange(n)[:, None, None, None], torch.arange(channels)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]
    if "hflip" in names:
        out = torch.where(flips[:, 0, None, None, None], out.flip(3), out)
    if "vflip" in names:
        out = torch.where(flips[:, 1, None, None, None], out.flip(2), out)
    if "rot90" in names:
        if height != width:
            raise ValueError(f"the rot90 symmetry needs square latents, got {height} x {width}: remove it")
        out = torch.stack([torch.rot90(x, int(k), (1, 2)) for x, k in zip(out, quarters)]) if n else out
    if "hue" in names:
        if channels != 3:
            raise ValueError(f"the hue symmetry rotates RGB latents, but these have {channels} channels: "
                             f"remove it from prior.symmetries")
        out = torch.einsum("nij,njhw->nihw", hue_rotations(angles).to(out.dtype), out)
    return out
