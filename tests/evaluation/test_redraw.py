"""Redraws (unseen.evaluation.redraw): a sample nearer its reference than that reference's twin (the same identity drawn
differently) is a redraw; without identities, the field's nearest-reference criterion."""

import torch

from unseen.evaluation.redraw import most_redrawn_first, redraws, thresholds, twin_distances


def test_the_twin_distance_is_the_limit_and_the_held_out_images_give_the_floor():
    refs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0], [10.0, 3.0], [20.0, 0.0]])
    groups = ["a", "a", "b", "b", "c"]  # c has no twin among the references: the median twin distance stands in
    torch.testing.assert_close(twin_distances(refs, groups)[:4],
                               torch.tensor([1.0, 1.0, 3.0, 3.0], dtype=torch.float64))
    assert torch.isnan(twin_distances(refs, groups)[4])
    limit, criterion, twins = thresholds(refs, groups)
    assert criterion == "twin" and twins == 4 and limit.tolist() == [1.0, 1.0, 3.0, 3.0, 2.0]
    samples = torch.tensor([[0.2, 0.0], [10.0, 2.5], [20.0, 1.5], [15.0, 0.0], [5.0, 0.0]])
    held = torch.tensor([[10.0, 1.0], [30.0, 0.0]])
    out = redraws(samples, held, refs, groups)
    assert (out["count"], out["num_samples"], out["held_out_count"], out["num_held_out"]) == (3, 5, 1, 2)
    assert out["interval_95"][0] < 0.6 < out["interval_95"][1]
    order, nearest = most_redrawn_first(samples, refs, groups)
    assert order.tolist()[:3] == [1, 0, 2] and nearest.tolist()[:3] == [0, 3, 4]  # 0.5 / 3, 0.2 / 1, 1.5 / 2


def test_without_identities_the_nearest_reference_criterion_stands_in():
    refs = torch.tensor([[0.0], [4.0], [8.0]])
    limit, criterion, twins = thresholds(refs, None)
    assert criterion == "nearest_reference" and twins == 0 and limit.tolist() == [2.0, 2.0, 2.0]  # half of 4
    assert redraws(torch.tensor([[1.0], [6.0]]), None, refs, None)["count"] == 1  # 1 from 0 (< 2); 6 is 2 away


def test_a_run_reports_redraws_beside_the_floor_and_orders_nearest_png(tmp_path):
    from tests.helpers import make_cfg, run

    m = run(make_cfg(["sampler=replay", "sampler.count=8"], tmp_path / "run"))  # the references reconstructed
    r = m["redraw"]
    assert r["criterion"] == "nearest_reference" and r["num_samples"] == 8 and r["num_held_out"] == 32
    assert r["fraction"] > r["held_out_fraction"]  # near-reconstructions are redraws; real new smileys are not
    assert 0 <= m["spectrum"]["worst_band"] < len(m["spectrum"]["bands"])
