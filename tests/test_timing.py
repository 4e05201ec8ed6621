"""unseen.timing, the public hook the benchmarks time through: network seconds by stage, a nested mark counted once,
nothing kept outside ``record``."""

import time

from unseen import timing


@timing.network
def _net(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


@timing.network
def _outer(seconds: float) -> str:
    return _net(seconds)  # a network call inside another (features -> encode): counted once


def test_record_adds_network_seconds_by_stage():
    assert _net(0) == "done"  # outside record: a plain call
    with timing.record() as spent:
        _net(0.02)
        with timing.stage("generate"):
            _net(0.03)
            _outer(0.04)
    assert set(spent) == {timing.OUTSIDE, "generate"}
    assert 0.02 <= spent[timing.OUTSIDE] < 0.06
    assert 0.07 <= spent["generate"] < 0.12  # 0.03 + 0.04, not 0.03 + 2 x 0.04
    assert timing._active is None


def test_a_run_marks_its_stages_and_network_calls(tmp_path):
    from tests.helpers import SMALL
    from unseen.job.api import run

    with timing.record() as spent:
        r = run(*SMALL, "eval=none", "mixing.reconstruct=0", "cache_dir=null", output_dir=tmp_path / "run")
    assert spent["invert"] > 0 and spent["generate"] > 0
    assert all(spent[k] <= r.metrics["seconds"][k] + 0.01 for k in ("invert", "generate"))


def test_the_stopwatch_counts_each_stages_seconds_and_unet_evaluations():
    """timing.Stopwatch, a run's seconds and UNet evaluations per stage: a stage entered twice adds up, and the
    evaluations are the predictor's count's growth inside the stage."""
    predictor = type("Predictor", (), {"evaluations": 0})()
    watch = timing.Stopwatch()
    for n in (3, 4):
        with watch.stage("generate", predictor):
            predictor.evaluations += n
            time.sleep(0.01)
    with watch.stage("evaluate"):
        predictor.evaluations += 100  # not a stage that counts the UNet
    assert watch.unet_evaluations == {"generate": 7}
    assert set(watch.seconds) == {"generate", "evaluate"} and watch.seconds["generate"] >= 0.02
