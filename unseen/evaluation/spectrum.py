"""Energy per octave of the radially averaged power spectrum: where in frequency the samples differ from real images.

The grain ratio (mean |Laplacian|) sees the highest frequencies only; the mottled colour texture of the emoji samples
lies in the middle ones. Here each image's power spectrum (per channel, mean removed, on the image as its PNG holds it)
is summed over octaves of radial frequency, in cycles per pixel:

    band k = [0.5 / 2**(k+1), 0.5 / 2**k)   for k = 0 .. n-2,   the last band everything below, DC excluded

so band 0 is the finest detail (a quarter to a half cycle per pixel, corners included) and the last the coarsest
layout. Each band's energy is the sum of |FFT|^2 / (H W) over its frequencies, averaged over channels: by Parseval
the bands add up to the image's variance. The ratio per band is the samples' mean over the held-out images' mean,
with a bootstrap 95% interval (both sets resampled), as the grain ratio; the worst band is the one farthest from 1
on a log scale.
"""

from __future__ import annotations

import math

import torch

DEFINITION = ("energy of the radially averaged power spectrum per octave of frequency (cycles/pixel; band 0 = "
              "[0.25, 0.5] and the corners, each next band an octave lower, DC excluded), per image as its PNG holds "
              "it, mean over channels; ratio = the samples' mean over the held-out images' mean")


def band_edges(size: int) -> list[float]:
    """The octave edges (cycles per pixel, high to low) for ``size`` px images: down to one cycle per image."""
    edges, f = [], 0.5
    while f / 2 > 1 / size + 1e-12:
        edges.append(f / 2)
        f /= 2
    return edges  # band k: [edges[k], previous edge); the last band: [1/size .. edges[-1])


def band_energy(images: torch.Tensor) -> torch.Tensor:
    """(N, B) energy per octave band of each image (N, C, H, W) in [-1, 1] (square images)."""
    x = ((images.double().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1  # as the PNG holds it
    n, c, h, w = x.shape
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = (torch.fft.fft2(x).abs().pow(2) / (h * w) ** 2).mean(1)  # (N, H, W): sums to the variance (Parseval)
    fy = torch.fft.fftfreq(h, dtype=torch.float64).abs()[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64).abs()[None, :]
    radius = torch.sqrt(fy ** 2 + fx ** 2)
    edges = band_edges(min(h, w))
    bands, upper = [], math.inf
    for lower in edges:
        bands.append(((radius >= lower) & (radius < upper)))
        upper = lower
    bands.append((radius > 0) & (radius < upper))
    return torch.stack([power[:, m].sum(1) for m in bands], 1)


def band_ratios(fake: torch.Tensor, real: torch.Tensor, size: int, seed: int = 0, rounds: int = 1000) -> dict:
    """Per band: the samples' mean energy over the held-out images', with a bootstrap 95% interval; and the worst
    band (farthest from 1 in log ratio)."""
    fake, real = fake.double(), real.double()
    gen = torch.Generator().manual_seed(seed)
    boot = torch.stack([fake[torch.randint(len(fake), (len(fake),), generator=gen)].mean(0)
                        / real[torch.randint(len(real), (len(real),), generator=gen)].mean(0) for _ in range(rounds)])
    low, high = torch.quantile(boot, torch.tensor([0.025, 0.975], dtype=boot.dtype), dim=0).tolist()
    ratio = (fake.mean(0) / real.mean(0)).tolist()
    edges = band_edges(size)
    names = [f"{lo:.3g}-{hi:.3g}" for lo, hi in zip(edges, [0.5, *edges[:-1]])] + [f"{1 / size:.3g}-{edges[-1]:.3g}"]
    bands = [{"cycles_per_pixel": name, "ratio": r, "interval_95": [lo, hi]}
             for name, r, lo, hi in zip(names, ratio, low, high)]
    worst = max(range(len(bands)), key=lambda i: abs(math.log(max(ratio[i], 1e-12))))
    return {"bands": bands, "worst_band": worst, "worst_ratio": ratio[worst], "worst_interval_95": bands[worst]
            ["interval_95"], "num_samples": len(fake), "num_held_out": len(real), "definition": DEFINITION}
