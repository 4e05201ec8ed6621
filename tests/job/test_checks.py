"""unseen.job.checks: every check that needs no model, run once per run, before any work: by the command line's
precheck for a single run, by ``run_config`` for the API and a sweep's jobs; the pipeline checks nothing again."""

import pytest

from tests.helpers import SMALL, make_cfg
from unseen.errors import UserError


@pytest.fixture
def counted(monkeypatch):
    from unseen.job import checks

    calls = []
    real = checks.preflight

    def preflight(cfg, *args, **kwargs):
        calls.append(cfg.output_dir)
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(checks, "preflight", preflight)
    return calls


def test_the_api_checks_a_run_once(tmp_path, counted):
    import unseen

    unseen.run(*SMALL, "sampler.count=2", "sampler.batch_size=2", "eval=none", "cache_dir=null",
               output_dir=tmp_path / "run")
    assert counted == [str(tmp_path / "run")]


def test_below_the_entry_layer_nothing_checks_again():
    """The pipeline and auto run on the typed config the entry layer checked: neither calls a check of the config
    (auto's candidates were each checked as runs of their own, so the config it chooses is valid as made)."""
    from pathlib import Path

    import unseen

    job = Path(unseen.__file__).parent / "job"
    for name in ("pipeline.py", "auto.py", "stages.py"):
        text = (job / name).read_text()
        assert "preflight" not in text and "validate(" not in text, name


def test_a_config_is_checked_before_it_runs(tmp_path):
    from unseen.job.api import run_config

    with pytest.raises(UserError, match="sampler.count must be >= 1"):
        run_config(make_cfg(["sampler.count=0"], tmp_path / "run"))
    assert not (tmp_path / "run").exists()
