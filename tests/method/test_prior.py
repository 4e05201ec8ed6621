import numpy as np
import pytest
import torch

from unseen.method.prior import draw, fit_prior


@pytest.fixture(scope="module")
def latents():
    g = torch.Generator().manual_seed(0)
    # K = 40 latents of D = 300 with two strong coherent directions plus small per-dimension noise
    directions = torch.linalg.qr(torch.randn(300, 2, generator=g, dtype=torch.float64))[0].T
    coeff = torch.randn(40, 2, generator=g, dtype=torch.float64) * torch.tensor([5.0, 2.0], dtype=torch.float64)
    return 3.0 + coeff @ directions + 0.1 * torch.randn(40, 300, generator=g, dtype=torch.float64)


def test_scalar_is_the_variance_of_all_entries_around_the_grand_mean(latents):
    prior = fit_prior(latents.reshape(40, 3, 10, 10), "scalar")
    z = latents.numpy()
    assert prior.std.item() == pytest.approx(np.std(z), rel=1e-12)
    np.testing.assert_allclose(prior.mean.numpy(), z.mean(0), rtol=1e-12)


def test_residual_and_diagonal(latents):
    z = latents.numpy()
    assert fit_prior(latents, "residual").std.item() == pytest.approx(np.sqrt(np.var(z, 0, ddof=1).mean()))
    diag = fit_prior(latents, "diagonal", floor=1e-4)
    np.testing.assert_allclose(diag.std.numpy(), np.sqrt(np.var(z, 0, ddof=1)), rtol=1e-10)
    floored = fit_prior(latents[:, :1].repeat(1, 5) * 0 + 1.0, "diagonal", floor=0.01)
    np.testing.assert_allclose(floored.std.numpy(), 0.1)


def test_pca_recovers_the_coherent_directions_and_their_spread(latents):
    prior = fit_prior(latents, "pca", components=2)
    assert prior.basis.shape == (2, 300)
    torch.testing.assert_close(prior.basis @ prior.basis.T, torch.eye(2, dtype=torch.float64))
    centred = (latents - latents.mean(0)).numpy()
    sd = np.linalg.svd(centred, compute_uv=False)[:2] / np.sqrt(39)
    np.testing.assert_allclose(prior.basis_std.numpy(), sd, rtol=1e-10)
    assert prior.std.item() == pytest.approx(0.1, rel=0.15)  # the per-dimension noise left over
    # draws have the fitted spread along each principal direction and the residual elsewhere
    z = draw(prior, 20000, torch.Generator().manual_seed(1))
    along = (z - prior.mean) @ prior.basis.T
    np.testing.assert_allclose(along.std(0).numpy(), np.sqrt(sd**2 + prior.std.item() ** 2), rtol=0.03)
    other = (z - prior.mean) - along @ prior.basis
    assert other.pow(2).sum(1).mean().sqrt().item() == pytest.approx(prior.std.item() * np.sqrt(298), rel=0.02)


def test_draws_are_reproducible_and_truncate_to_the_span(latents):
    prior = fit_prior(latents, "scalar", truncate=True)
    a = draw(prior, 50, torch.Generator().manual_seed(3))
    b = draw(prior, 50, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert (a >= latents.min(0).values).all() and (a <= latents.max(0).values).all()
    loose = draw(fit_prior(latents, "scalar"), 50, torch.Generator().manual_seed(3))
    assert (loose > latents.max(0).values).any()


@pytest.mark.parametrize("variance,k,match", [("scalar", 1, "at least 2"), ("pca", 10, "at least 17"),
                                              ("gamma", 10, "prior.variance must be one of")])
def test_too_few_references_or_an_unknown_kind(latents, variance, k, match):
    with pytest.raises(ValueError, match=match):
        fit_prior(latents[:k], variance, components=16)


def test_mixture_with_a_pca_kernel_moves_references_only_along_their_principal_directions():
    """Each draw (before its norm is put back) = its reference + a combination of the first k principal
    directions: nothing is left orthogonal to span(reference, directions), i.e. no per-pixel noise is added."""
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(12, 3, 4, 4, generator=g, dtype=torch.float64)
    prior = fit_prior(latents, "mixture", components=4, bandwidth=1.5, kernel="pca")
    z = draw(prior, 50, torch.Generator().manual_seed(1))
    centred = latents.reshape(12, -1) - latents.reshape(12, -1).mean(0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    assert torch.allclose(prior.basis_std, 1.5 * s[:4] / 11 ** 0.5)
    flat = latents.reshape(12, -1)
    picked = torch.randint(12, (50,), generator=torch.Generator().manual_seed(1))  # draw's first use of the stream
    for row, j in zip(z, picked.tolist()):
        q, _ = torch.linalg.qr(torch.cat([flat[j:j + 1], vh[:4]]).T)
        assert (row - q @ (q.T @ row)).norm() < 1e-9 * row.norm()
        assert row.norm() == pytest.approx(float(flat[j].norm()))  # back on its reference's sphere
    with pytest.raises(ValueError, match="needs at least 5 references"):
        fit_prior(latents[:4], "mixture", components=4, kernel="pca")
    zero = draw(fit_prior(latents, "mixture", components=4, bandwidth=0, kernel="pca"), 5,
                torch.Generator().manual_seed(2))
    assert all(any(torch.allclose(r, l) for l in latents.reshape(12, -1)) for r in zero)


def test_signal_scale_is_how_much_of_its_centre_a_mixture_draw_keeps():
    """Computed two ways: the formula, and the draws' own projections on their centres (a draw is
    sqrt(scale) (c + std n) on c's sphere, so (z . c / |c|^2)^2 averages to the scale)."""
    from unseen.method.prior import signal_scale

    g = torch.Generator().manual_seed(0)
    latents = torch.randn(6, 3, 16, 16, generator=g, dtype=torch.float64) * torch.linspace(0.5, 1.5, 6)[:, None,
                                                                                                        None, None]
    prior = fit_prior(latents, "mixture", bandwidth=0.8)
    flat = latents.reshape(6, -1)
    m = flat.pow(2).mean(1)
    assert signal_scale(prior) == pytest.approx(float((m / (m + prior.std ** 2)).mean()))
    z = draw(prior, 3000, torch.Generator().manual_seed(1))
    picked = torch.randint(6, (3000,), generator=torch.Generator().manual_seed(1))
    c = flat[picked]
    measured = ((z * c).sum(1) / c.pow(2).sum(1)).pow(2)
    per_centre = torch.stack([measured[picked == j].mean() for j in range(6)])
    assert float(per_centre.mean()) == pytest.approx(signal_scale(prior), rel=0.02)
    assert signal_scale(fit_prior(latents, "mixture", bandwidth=0)) == 1.0
    assert signal_scale(fit_prior(latents, "scalar")) == 1.0
    assert signal_scale(fit_prior(latents, "mixture", components=4, kernel="pca")) == 1.0


def test_a_collage_takes_whole_regions_of_two_references():
    from unseen.method.sources import batch_generator, collage_latents, collage_masks

    m = collage_masks(64, (8, 8), 3, batch_generator(0, "t", 0))
    assert m.shape == (64, 2, 8, 8)
    torch.testing.assert_close(m.sum(1), torch.ones(64, 8, 8, dtype=torch.float64))
    assert ((m[:, 0] < 0.1) | (m[:, 0] > 0.9)).double().mean() > 0.6  # mostly one reference or the other
    refs = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    z = collage_latents(refs, 10, 3, seed=1).reshape(10, 3, 8, 8)
    assert torch.equal(torch.cat(list(collage_latents(refs, 10, 3, seed=1, chunk=4))).reshape(10, 3, 8, 8), z)
    # where the mask is all but 1 a collage is one reference's latent; where 0, the other's
    g = batch_generator(1, "collage", 0)
    from unseen.method.geometry import random_subsets

    pairs, masks = random_subsets(10, 5, 2, g), collage_masks(10, (8, 8), 3, g)[:, :1]
    a, b = refs[pairs[:, 0]], refs[pairs[:, 1]]
    near_a, near_b = masks > 0.999, masks < 0.001
    assert torch.allclose(z[near_a.expand_as(z)], a[near_a.expand_as(a)], atol=1e-2)
    assert torch.allclose(z[near_b.expand_as(z)], b[near_b.expand_as(b)], atol=1e-2)


def test_a_collage_of_three_takes_regions_of_three_references_at_a_latents_norm():
    from unseen.method.geometry import random_subsets
    from unseen.method.sources import batch_generator, collage_latents, collage_masks

    refs = torch.randn(6, 3, 16, 16, dtype=torch.float64)
    z = collage_latents(refs, 40, 3, seed=2, parts=3).reshape(40, 3, 16, 16)
    g = batch_generator(2, "collage", 0)
    chosen, m = random_subsets(40, 6, 3, g), collage_masks(40, (16, 16), 3, g, parts=3)
    assert len({tuple(sorted(c)) for c in chosen.tolist()}) > 10 and all(len(set(c)) == 3 for c in chosen.tolist())
    owner = m.argmax(1)  # (40, 16, 16): which reference each pixel comes from
    assert all(len(set(owner[i].flatten().tolist())) >= 2 for i in range(40))  # regions of more than one
    pure = m.max(1).values > 0.999
    picked = refs[chosen].gather(1, owner[:, None, None].expand(40, 1, 3, 16, 16)).squeeze(1)
    assert torch.allclose(z.permute(0, 2, 3, 1)[pure], picked.permute(0, 2, 3, 1)[pure], atol=1e-2)
    # white noise latents keep their scale: the seams are rescaled, not dimmed
    assert float(z.std()) == pytest.approx(float(refs.std()), rel=0.05)
    with pytest.raises(ValueError, match="at least 7 references"):
        collage_latents(refs, 4, parts=7)


def test_a_hybrid_is_the_low_frequencies_of_one_reference_and_the_high_of_another():
    from unseen.method.geometry import random_subsets
    from unseen.method.sources import batch_generator, hybrid_latents, lowpass

    g = torch.Generator().manual_seed(0)
    smooth = lowpass(torch.randn(6, 3, 16, 16, generator=g, dtype=torch.float64), 3.0)  # layout only
    detail = torch.randn(6, 3, 16, 16, generator=g, dtype=torch.float64)
    refs = smooth * 4 + detail
    z = hybrid_latents(refs, 8, sigma=2.0, seed=1).reshape(8, 3, 16, 16)
    pairs = random_subsets(8, 6, 2, batch_generator(1, "hybrid", 0))
    a, b = refs[pairs[:, 0]], refs[pairs[:, 1]]
    corr = lambda x, y: float(torch.nn.functional.cosine_similarity(x.flatten(1), y.flatten(1)).mean())  # noqa: E731
    # the blurred hybrid follows a's layout, the detail left after blurring follows b's
    assert corr(lowpass(z, 2.0), lowpass(a, 2.0)) > 0.9 > corr(lowpass(z, 2.0), lowpass(b, 2.0))
    assert corr(z - lowpass(z, 2.0), b - lowpass(b, 2.0)) > 0.9 > corr(z - lowpass(z, 2.0), a - lowpass(a, 2.0))
    norms = (a.flatten(1).norm(dim=1) + b.flatten(1).norm(dim=1)) / 2
    torch.testing.assert_close(z.flatten(1).norm(dim=1), norms)
    assert torch.equal(torch.cat(list(hybrid_latents(refs, 8, 2.0, 1, chunk=3))), z.reshape(8, -1))
