import numpy as np
import pytest
import torch

from unseen.worlds.tiny.domains import ALIGNED, DOMAINS, SIZE, DomainDataset, render, render_with_mask, sample

N = 150  # images checked per domain


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_deterministic_per_seed_and_index(domain):
    a, b = render(domain, 7, seed=3), render(domain, 7, seed=3)
    assert a.dtype == np.uint8 and a.shape == (SIZE, SIZE, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, render(domain, 7, seed=4))
    assert not np.array_equal(a, render(domain, 8, seed=3))


@pytest.mark.parametrize("domain", list(DOMAINS))
def test_every_image_shows_its_object(domain):
    for i in range(N):
        image, mask = render_with_mask(domain, i, seed=11)
        # The most covered pixels (thin letter strokes may not cover any pixel fully) and the bare background.
        inside, outside = mask >= min(0.99, mask.max() - 1e-3), mask < 0.01
        # Never blank: a sizeable object, and some background around it.
        assert mask.max() > 0.8 and (mask > 0.5).mean() > 0.025, (domain, i)
        assert outside.mean() > 0.15, (domain, i, outside.mean())
        # Foreground clearly distinct from background (colours in [0, 1]).
        fg = image[inside].astype(float).mean(0) / 255
        bg = image[outside].astype(float).mean(0) / 255
        assert np.linalg.norm(fg - bg) > 0.3, (domain, i, fg, bg)
        if domain != "stripes":  # stripes fill the frame by design; every object lies wholly inside it
            border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
            assert border.max() < 0.01, (domain, i)


@pytest.mark.parametrize("domain", ALIGNED)
def test_aligned_domains_are_centred(domain):
    ys, xs = np.mgrid[:SIZE, :SIZE]
    for i in range(50):
        mask = render_with_mask(domain, i, seed=1)[1]
        cy, cx = (mask * ys).sum() / mask.sum(), (mask * xs).sum() / mask.sum()
        assert abs(cx - (SIZE - 1) / 2) < 2.0 and abs(cy - (SIZE - 1) / 2) < 2.0


def test_unaligned_domains_vary_in_position():
    centres = []
    for i in range(40):
        mask = render_with_mask("disks", i)[1]
        ys, xs = np.nonzero(mask > 0.5)
        centres.append((xs.mean(), ys.mean()))
    assert np.std(np.array(centres), axis=0).min() > 3.0


def test_sample_and_dataset_agree():
    x = sample("letters", 5, seed=2, start=10)
    assert x.shape == (5, 3, SIZE, SIZE) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    ds = DomainDataset("letters", length=100, seed=2, label=3)
    image, label = ds[12]
    assert label == 3 and len(ds) == 100
    torch.testing.assert_close(image, x[2])
    with pytest.raises(IndexError):
        ds[100]


def test_unknown_domain_is_named():
    with pytest.raises(ValueError, match="unknown tiny-world domain 'dots'"):
        render("dots", 0)
