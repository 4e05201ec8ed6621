"""The new-member goals are judged on the bound of each interval, and a goal the run did not measure is left out."""

from unseen.evaluation.goals import check, verdict


def _metrics(rate_low=0.95, redraw=(0.5, 0.6, 0.7), floor=0.62, grain_high=1.1, band_highs=(0.9, 1.1),
             diversity=1.0) -> dict:
    return {"domain_rates": {"target_rate": 0.97, "interval_95": [rate_low, 1.0]},
            "redraw": {"fraction": redraw[1], "interval_95": [redraw[0], redraw[2]], "held_out_fraction": floor},
            "grain": {"ratio": 1.0, "interval_95": [0.9, grain_high]},
            "spectrum": {"bands": [{"cycles_per_pixel": f"{i}", "ratio": h - 0.05, "interval_95": [h - 0.1, h]}
                                   for i, h in enumerate(band_highs)]},
            "diversity": {"pixel_ratio": diversity}}


def test_every_goal_met_on_its_bound():
    goals = check(_metrics())
    assert [g["goal"] for g in goals] == ["target rate", "redraws", "grain", "every band", "pixel diversity"]
    assert all(g["met"] for g in goals) and verdict(goals) == "meets all 5"


def test_a_point_estimate_inside_does_not_meet_a_goal_whose_bound_is_outside():
    # the redraw rate 0.60 is under floor + 0.10 = 0.72, but its upper bound 0.80 is not
    goals = {g["goal"]: g for g in check(_metrics(redraw=(0.45, 0.60, 0.80), rate_low=0.89, band_highs=(0.8, 1.25)))}
    assert not goals["redraws"]["met"] and "0.80" in goals["redraws"]["detail"]
    assert not goals["target rate"]["met"] and not goals["every band"]["met"]
    assert goals["grain"]["met"] and goals["pixel diversity"]["met"]
    assert verdict(list(goals.values())).startswith("misses 3 of 5: target rate lower bound 0.89")


def test_diversity_outside_the_band_on_either_side_misses():
    assert not check(_metrics(diversity=0.87))[-1]["met"] and not check(_metrics(diversity=1.31))[-1]["met"]


def test_unmeasured_goals_are_left_out_not_passed():
    assert check({"diversity": {"pixel_ratio": 1.0}}) == [
        {"goal": "pixel diversity", "met": True, "detail": "1.00 (in [0.9, 1.3])"}]
    assert verdict(check({})) == "not measured (no held-out images or classifier)"
