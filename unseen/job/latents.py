"""The drawn latents at t_M on disk, so no run holds count x D of them in memory.

Draws are appended to a raw float32 file as they are accepted and read back chunk by chunk for
denoising (plain file reads, not a memory map: the page cache is not the process's memory), and
``latents.safetensors`` is written by streaming that file after the references' latents, under a
header written first. 5000 latents at 256 px are 3.9 GB: on disk, not in RAM.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import torch

ITEM = 4  # float32


class LatentFile:
    """Latents of one shape, with global indices [first, first + count), appended in order."""

    def __init__(self, path: Path, shape: tuple[int, ...], first: int = 0):
        self.path, self.shape, self.first, self.count = Path(path), tuple(shape), first, 0
        self.dim = int(np.prod(self.shape))
        self._out = open(self.path, "wb")

    def append(self, z: torch.Tensor) -> None:
        self._out.write(z.detach().to(torch.float32).cpu().contiguous().numpy().tobytes())
        self.count += len(z)

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Latents with global indices [start, stop), shaped (n, *shape), float32."""
        self._out.flush()
        n = stop - start
        with open(self.path, "rb") as f:
            f.seek((start - self.first) * self.dim * ITEM)
            data = np.fromfile(f, dtype=np.float32, count=n * self.dim)
        if len(data) != n * self.dim:
            raise IndexError(f"latents [{start}, {stop}) are not all in {self.path}")
        return torch.from_numpy(data).reshape(n, *self.shape)

    def chunks(self, size: int):
        for start in range(self.first, self.first + self.count, size):
            yield self.read(start, min(start + size, self.first + self.count))


def save_streamed(path: Path, tensors: dict[str, torch.Tensor], files: dict[str, LatentFile]) -> None:
    """A safetensors file of ``tensors`` (in memory) and ``files`` (copied from disk in blocks), float32."""
    header, offset, entries = {}, 0, []
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).cpu().contiguous()
        size = t.numel() * ITEM
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        entries.append(t)
        offset += size
    for name, lf in files.items():
        size = lf.count * lf.dim * ITEM
        header[name] = {"dtype": "F32", "shape": [lf.count, *lf.shape], "data_offsets": [offset, offset + size]}
        entries.append(lf)
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(raw)))
        out.write(raw)
        for entry in entries:
            if isinstance(entry, LatentFile):
                entry._out.flush()
                with open(entry.path, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 24)
            else:
                out.write(entry.numpy().tobytes())
