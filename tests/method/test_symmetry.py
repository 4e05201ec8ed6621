import math

import pytest
import torch

from unseen.method.prior import draw, fit_prior
from unseen.method.symmetry import apply_symmetries, hue_rotations


def test_hue_rotations_are_orthogonal_fix_grey_and_turn_red_to_green_at_120_degrees():
    r = hue_rotations(torch.tensor([0.3, 2 * math.pi / 3], dtype=torch.float64))
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    torch.testing.assert_close(r[0] @ torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(r[1] @ torch.tensor([1.0, 0, 0], dtype=torch.float64),
                               torch.tensor([0.0, 1, 0], dtype=torch.float64), atol=1e-12, rtol=0)


def test_each_symmetry_keeps_the_norm_and_shift_is_a_cyclic_roll():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 3, 8, 8, generator=g, dtype=torch.float64)
    for names in (["shift"], ["hflip"], ["vflip"], ["rot90"], ["hue"], ["shift", "hflip", "vflip", "rot90", "hue"]):
        out = apply_symmetries(z, names, torch.Generator().manual_seed(1), max_shift=0.25)
        torch.testing.assert_close(out.flatten(1).norm(dim=1), z.flatten(1).norm(dim=1))
        assert not torch.equal(out, z)
    shifted = apply_symmetries(z, ["shift"], torch.Generator().manual_seed(1), max_shift=0.25)
    # every output is some roll of its input by at most 2 = 0.25 * 8 pixels each way
    for a, b in zip(z[:8], shifted[:8]):
        assert any(torch.equal(torch.roll(a, (dy, dx), (1, 2)), b) for dy in range(-2, 3) for dx in range(-2, 3))
    # i.i.d. Gaussian noise stays i.i.d. Gaussian: per-channel means and variances unchanged in law
    moved = apply_symmetries(torch.randn(4000, 3, 4, 4, generator=g), ["hue", "shift"], g)
    assert moved.var().item() == pytest.approx(1.0, abs=0.02) and abs(moved.mean().item()) < 0.01


def test_hue_needs_three_channels():
    with pytest.raises(ValueError, match="RGB"):
        apply_symmetries(torch.zeros(2, 4, 8, 8), ["hue"], torch.Generator())
    with pytest.raises(ValueError, match="RGB"):
        fit_prior(torch.randn(5, 4, 8, 8), "mixture", symmetries=["hue"])


def test_mixture_draws_lie_on_their_components_spheres_near_them():
    g = torch.Generator().manual_seed(0)
    refs = torch.randn(6, 3, 4, 4, generator=g, dtype=torch.float64) * torch.arange(1, 7).view(6, 1, 1, 1)
    prior = fit_prior(refs, "mixture", bandwidth=0.1)
    flat = refs.flatten(1)
    assert prior.std.item() == pytest.approx(0.1 * flat.var(0).mean().sqrt().item())
    z = draw(prior, 300, torch.Generator().manual_seed(2))
    nearest = torch.cdist(z, flat).argmin(1)
    torch.testing.assert_close(z.norm(dim=1), flat[nearest].norm(dim=1))
    assert len(nearest.unique()) == 6  # every component is used
    exact = draw(fit_prior(refs, "mixture", bandwidth=0.0), 50, torch.Generator().manual_seed(2))
    # bandwidth 0: the latents themselves
    assert (exact[:, None] - flat[None]).abs().amax(2).min(1).values.max() < 1e-12
