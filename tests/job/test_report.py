"""unseen.job.report: the run's one-screen summary, read through the metrics schema, says what the run measured and
leaves out what it did not."""

from unseen.job.report import summary


def _metrics(**extra) -> dict:
    m = {"model": "tiny_ddpm", "target": "smileys", "source": "prior", "t_M": 300, "inversion_steps": 30,
         "generation_steps": 31, "seed": 0, "device": "cpu",
         "seconds": {"invert": 1.5, "generate": 2.0}, "total_seconds": 3.5,
         "unet_evaluations": {"invert": 640, "generate": 1984}}
    m.update(extra)
    return m


def test_the_summary_opens_with_the_run_and_closes_with_its_cost_and_folder():
    lines = summary(_metrics(), "outputs/x").splitlines()
    assert lines[0].startswith("unseen: tiny_ddpm -> smileys  (source prior, t_M 300, 30 inversion / 30 generation")
    assert "3.5s (invert 1.5s, generate 2.0s); 2,624 UNet evaluations" in lines[-2]
    assert lines[-1].strip() == "results                      outputs/x"
    assert not any("new-member goals" in x or "reconstruction" in x for x in lines)  # not measured: not said


def test_the_goals_line_names_what_the_run_misses():
    goals = [{"goal": "target rate", "met": True, "detail": "lower bound 0.97 (>= 0.9)"},
             {"goal": "redraws", "met": False, "detail": "upper bound 0.89 (<= the held-out floor 0.67 + 0.10)"}]
    line = next(x for x in summary(_metrics(goals=goals), "o").splitlines() if "new-member goals" in x)
    assert "misses 1 of 2: redraws upper bound 0.89" in line and "target rate" not in line
