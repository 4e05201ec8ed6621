import math

import pytest
import torch

from unseen.geometry import CRITERIA, geometry_targets, criteria, random_subsets, within_band
from unseen.prior import fit_prior
from unseen.errors import GeometryRejectError
from unseen.sources import select_prior_draws, slerp


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
