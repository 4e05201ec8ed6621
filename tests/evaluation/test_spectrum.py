"""Energy per octave of the power spectrum (unseen.evaluation.spectrum): the bands add up to the variance, and blur and speckle
move energy where they should."""

import torch
import torch.nn.functional as F

from unseen.evaluation.spectrum import band_edges, band_energy, band_ratios


def images(n=32, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size // 2, size // 2, generator=g) * 2 - 1
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)  # smooth blobs with some detail


def test_the_bands_are_octaves_and_add_up_to_the_variance():
    assert band_edges(32) == [0.25, 0.125, 0.0625]  # the last band: 1/32 to 1/16 (one or two cycles per image)
    x = images()
    e = band_energy(x)
    assert e.shape == (32, 4)
    q = ((x.double().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1  # as the PNG holds it
    variance = q.var(dim=(-2, -1), unbiased=False).mean(1)
    torch.testing.assert_close(e.sum(1), variance)


def test_blur_lowers_the_fine_bands_and_noise_raises_them():
    real = images(seed=1)
    blurred = F.avg_pool2d(real, 3, stride=1, padding=1, count_include_pad=False)
    noisy = (real + 0.1 * torch.randn(real.shape, generator=torch.Generator().manual_seed(2))).clamp(-1, 1)
    blur = band_ratios(band_energy(blurred), band_energy(real), 32)
    speckle = band_ratios(band_energy(noisy), band_energy(real), 32)
    assert blur["bands"][0]["ratio"] < 0.5 and blur["bands"][-1]["ratio"] > 0.9  # fine detail lost, layout kept
    assert speckle["bands"][0]["ratio"] > 1.2 and abs(speckle["bands"][-1]["ratio"] - 1) < 0.05
    assert blur["worst_band"] == 0 and blur["worst_interval_95"][1] < 1
    assert same_as_itself(real)


def same_as_itself(x):
    r = band_ratios(band_energy(x), band_energy(x), 32)
    return all(abs(b["ratio"] - 1) < 1e-9 and b["interval_95"][0] <= 1 <= b["interval_95"][1] for b in r["bands"])
