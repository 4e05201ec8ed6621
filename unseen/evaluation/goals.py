"""Does a run make new members of the domain? The goals of issue 26, each judged on its interval's bound, never on a
point estimate where an interval exists: a goal "at least x" is met where the lower bound reaches x, a goal "at most
x" where the upper bound stays under it. A goal whose measure the run did not write (no classifier, no held-out
images) is left out, not passed.

    target rate      the classifier's Wilson lower bound >= 0.9
    redraws          the upper bound <= the held-out images' own rate (the floor) + 0.10
    grain, bands     the upper bound of the grain ratio and of every band's ratio <= 1.2
    pixel diversity  the samples' mean pairwise distance over the held-out images' in [0.9, 1.3] (no interval)
"""

from __future__ import annotations

from unseen.evaluation.metrics import get

RATE = 0.9
REDRAW_MARGIN = 0.10
SMOOTH = 1.2
DIVERSITY = (0.9, 1.3)


def check(m: dict) -> list[dict]:
    """One entry per goal the run measured: name, met, and what decided it (for the summary and metrics.json)."""
    out = []

    def goal(name: str, met: bool, detail: str) -> None:
        out.append({"goal": name, "met": bool(met), "detail": detail})

    if get(m, "rate_low") is not None:
        goal("target rate", get(m, "rate_low") >= RATE, f"lower bound {get(m, 'rate_low'):.2f} (>= {RATE})")
    if get(m, "redraw_high") is not None and get(m, "redraw_held_out") is not None:
        limit = get(m, "redraw_held_out") + REDRAW_MARGIN
        goal("redraws", get(m, "redraw_high") <= limit,
             f"upper bound {get(m, 'redraw_high'):.2f} (<= the held-out floor {get(m, 'redraw_held_out'):.2f} "
             f"+ {REDRAW_MARGIN:.2f})")
    if get(m, "grain_high") is not None:
        goal("grain", get(m, "grain_high") <= SMOOTH, f"upper bound {get(m, 'grain_high'):.2f} (<= {SMOOTH})")
    if m.get("spectrum"):
        bands = m["spectrum"]["bands"]
        worst = max(bands, key=lambda b: b["interval_95"][1])
        goal("every band", worst["interval_95"][1] <= SMOOTH,
             f"highest upper bound {worst['interval_95'][1]:.2f} at {worst['cycles_per_pixel']} cycles/px "
             f"(<= {SMOOTH})")
    if get(m, "diversity_pixel") is not None:
        d = get(m, "diversity_pixel")
        goal("pixel diversity", DIVERSITY[0] <= d <= DIVERSITY[1], f"{d:.2f} (in [{DIVERSITY[0]}, {DIVERSITY[1]}])")
    return out


def verdict(goals: list[dict]) -> str:
    """One line: which goals the run meets and which it misses."""
    if not goals:
        return "not measured (no held-out images or classifier)"
    missed = [g for g in goals if not g["met"]]
    if not missed:
        return f"meets all {len(goals)}"
    return (f"misses {len(missed)} of {len(goals)}: " + "; ".join(f"{g['goal']} {g['detail']}" for g in missed))
