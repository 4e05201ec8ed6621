import math

import pytest
import torch

from unseen.errors import GeometryRejectError
from unseen.method.geometry import CRITERIA, criteria, geometry_targets, random_subsets, within_band
from unseen.method.prior import draw, fit_prior
from unseen.method.sources import select_prior_draws, slerp


def _angle(u, v):
    return math.degrees(math.acos(max(-1.0, min(1.0, float(u @ v / (u.norm() * v.norm()))))))


def test_criteria_from_inner_products_equal_the_definitions():
    g = torch.Generator().manual_seed(0)
    refs = torch.randn(12, 50, generator=g, dtype=torch.float64) + 2
    z = torch.randn(6, 50, generator=g, dtype=torch.float64)
    subsets = random_subsets(6, 12, 5, g)
    got = criteria(z, refs, subsets)
    for n in range(6):
        r = refs[subsets[n]]
        dist = sum(float((z[n] - ri).norm()) for ri in r) / 5
        a0 = sum(_angle(z[n], ri) for ri in r) / 5
        a1 = sum(_angle(r[i] - z[n], r[i + 1] - z[n]) for i in range(4)) / 4
        assert got["distance"][n].item() == pytest.approx(dist, rel=1e-10)
        assert got["origin_angle"][n].item() == pytest.approx(a0, rel=1e-9)
        assert got["pair_angle"][n].item() == pytest.approx(a1, rel=1e-9)


def test_subsets_are_distinct_and_leave_one_out():
    subsets = random_subsets(30, 30, 8, torch.Generator().manual_seed(0), exclude=torch.arange(30))
    for i, row in enumerate(subsets.tolist()):
        assert len(set(row)) == 8 and i not in row


def test_targets_are_leave_one_out_statistics_of_the_references():
    refs = torch.randn(40, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = geometry_targets(refs, 10, torch.Generator().manual_seed(2))
    # i.i.d. standard normal vectors in 64-d: distance ~ sqrt(2 * 64), both angles near 90 and 60 degrees
    assert t.mean["distance"] == pytest.approx(math.sqrt(128), rel=0.05)
    assert t.mean["origin_angle"] == pytest.approx(90, abs=3)
    assert t.mean["pair_angle"] == pytest.approx(60, abs=3)
    assert all(t.std[c] > 0 for c in CRITERIA)
    with pytest.raises(ValueError, match="more than subset_size = 10"):
        geometry_targets(refs[:10], 10, torch.Generator())


def test_reject_keeps_only_draws_inside_the_band_and_reports_the_rate():
    refs = torch.randn(30, 100, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    prior = fit_prior(refs, "scalar")
    targets = geometry_targets(refs, 8, torch.Generator().manual_seed(4))
    sel = select_prior_draws(prior, refs, targets, 40, mode="reject", bandwidth=1.0, subset_size=8,
                             candidate_batch=64, seed=0)
    assert sel.latents.shape == (40, 100) and sel.accepted == 40
    assert 0 < sel.acceptance_rate < 1 and sel.candidates > 40
    # the last candidate counted is the one that completed the count
    assert within_band({c: v[-1:] for c, v in sel.values.items()}, targets, 1.0).all()
    assert within_band(sel.accepted_values, targets, 1.0).all()
    assert not within_band(sel.values, targets, 1.0).all()
    # same seed, same draws; the first accepted draws do not depend on how many were asked for
    again = select_prior_draws(prior, refs, targets, 10, mode="reject", bandwidth=1.0, subset_size=8,
                               candidate_batch=64, seed=0)
    torch.testing.assert_close(again.latents, sel.latents[:10])


def test_reject_fails_clearly_when_the_budget_runs_out():
    refs = torch.randn(30, 100, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    targets = geometry_targets(refs, 8, torch.Generator().manual_seed(4))
    with pytest.raises(GeometryRejectError, match=r"accepted 0 of 500 .*rate 0.00%.* bandwidth 0.001.*raise geometry.bandwidth"):
        select_prior_draws(fit_prior(refs, "scalar"), refs, targets, 40, mode="reject", bandwidth=0.001,
                           subset_size=8, candidate_batch=100, max_candidates=500)


def test_none_mode_keeps_every_draw_in_order():
    refs = torch.randn(20, 30, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    prior = fit_prior(refs, "scalar")
    sel = select_prior_draws(prior, refs, None, 7, mode="none", bandwidth=1.0, candidate_batch=4)
    assert sel.candidates == sel.accepted == 7 and sel.latents.shape == (7, 30)


def test_slerp_interpolates_direction_and_norm():
    a = torch.tensor([[3.0, 0.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 5.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(slerp(a, b, torch.tensor([[0.0]], dtype=torch.float64)), a)
    torch.testing.assert_close(slerp(a, b, torch.tensor([[1.0]], dtype=torch.float64)), b)
    mid = slerp(a, b, torch.tensor([[0.5]], dtype=torch.float64))
    assert mid.norm().item() == pytest.approx(4.0)
    assert _angle(mid[0], a[0]) == pytest.approx(45.0)


def _clustered(seed=3, k=30, d=100):
    """References that lie closer to each other than a scalar-prior draw does to them (as inverted latents do)."""
    g = torch.Generator().manual_seed(seed)
    return 2.0 + torch.randn(k, d, generator=g, dtype=torch.float64) * (1 + torch.rand(d, generator=g)) / 2


def test_scale_to_distance_hits_the_target_distance():
    from unseen.method.geometry import scale_to_distance

    refs = _clustered()
    z = 1.5 * refs.mean(0) + torch.randn(50, 100, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    subsets = random_subsets(50, 30, 8, torch.Generator().manual_seed(2))
    target = float(criteria(refs, refs, random_subsets(30, 30, 8, torch.Generator(), torch.arange(30)))
                   ["distance"].mean())
    s = scale_to_distance(z, refs, subsets, target)
    torch.testing.assert_close(criteria(z * s[:, None], refs, subsets)["distance"],
                               torch.full((50,), target, dtype=torch.float64), rtol=1e-9, atol=1e-9)


def test_optimize_moves_draws_that_reject_refuses_into_the_band():
    from unseen.method.geometry import optimize_into_band

    refs = _clustered()
    prior = fit_prior(refs, "scalar")
    targets = geometry_targets(refs, 8, torch.Generator().manual_seed(4))
    g = torch.Generator().manual_seed(0)
    raw = criteria(draw(prior, 4000, g), refs, random_subsets(4000, 30, 8, g))
    assert within_band(raw, targets, 0.25).double().mean() < 0.1  # rejection would keep almost nothing
    sel = select_prior_draws(prior, refs, targets, 64, mode="optimize", bandwidth=0.25, subset_size=8,
                             candidate_batch=64, seed=0)
    assert sel.acceptance_rate >= 0.9 and within_band(sel.accepted_values, targets, 0.25).all()
    # the moves are reported relative to each draw's distance to its nearest reference, and stay modest
    assert sel.moved is not None and len(sel.moved) == 64 and 0 < float(sel.moved.median()) < 1
    # draws already inside the band are not moved at all
    z = refs[:5] * 1.0
    subsets = random_subsets(5, 30, 8, torch.Generator().manual_seed(9))
    inside = within_band(criteria(z, refs, subsets), targets, 1e9)
    torch.testing.assert_close(optimize_into_band(z, refs, subsets, targets, 1e9, enabled=("origin_angle",)), z)
    assert inside.all()


def test_paper_candidates_lie_on_slerp_paths_from_a_reference_to_a_draw():
    from unseen.method.sources import paper_candidates

    refs = _clustered(k=10, d=20)
    prior = fit_prior(refs, "scalar")
    z = paper_candidates(prior, refs, points=5)(10, torch.Generator().manual_seed(0))
    assert z.shape == (10, 20)
    for group in (z[:5], z[5:]):
        # the 5 points of a group share their two ends: one of them is a reference latent
        start = group[0]
        nearest = torch.cdist(start[None], refs).argmin()
        angles = [_angle(p, refs[nearest]) for p in group]
        assert angles == sorted(angles) and angles[0] < angles[-1]  # moving away from the reference
