"""A value the user set is never replaced by a default layer's choice (unseen.job.choices): the emoji world's t_M choice
steps aside for a given t_M and keeps a given bandwidth; experiment=auto, named by the user, replaces and says so;
a folder at its defaults gets a K it can hold."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from unseen.job.api import compose
from unseen.job.config import user_keys

ROOT = Path(__file__).resolve().parents[2]


def test_user_keys_are_the_overrides_and_the_method_choices_named():
    assert user_keys(["mixing.t_M=300,500"]) == ["mixing.t_M"]
    assert user_keys(["target=emoji", "model=emoji_ddpm", "eval=none"]) == []  # places, not method values
    keys = user_keys(["prior=pca", "experiment=auto"])
    assert {"prior.variance", "prior.components", "auto.enabled", "auto.t_M", "mixing.stride"} <= set(keys)
    assert "prior.bandwidth" not in keys
    assert {"geometry.mode", "prior.variance", "mixing.t_M"} <= set(user_keys(["experiment=paper_v1"]))


def emoji(*overrides):
    return compose("target=emoji", "target.category=faces", *overrides, output_dir="/tmp/unused")


def test_the_worlds_choice_steps_aside_for_a_given_t_M():
    cfg = emoji("mixing.t_M=450")
    assert cfg.mixing.t_M == 450 and not cfg.auto.enabled
    assert "stepped aside" in cfg.auto.note and "mixing.t_M=450" in cfg.auto.note
    assert "mixing.t_M" in cfg.user_set
    # what the user left open is still the world's: its source
    assert cfg.sampler.source == "collage" and "with the default's sampler.source=collage" in cfg.auto.note
    assert emoji("mixing.t_M=450", "sampler=prior").sampler.source == "prior"
    off = emoji("auto.enabled=false")  # the choice off, the world's source still on
    assert off.sampler.source == "collage" and "is off (auto.enabled=false)" in off.auto.note
    assert emoji("auto.enabled=false", "sampler=prior").sampler.source == "prior"


def test_the_worlds_choice_keeps_a_given_bandwidth_and_so_draws_the_prior():
    cfg = emoji("prior.bandwidth=0.5")
    assert cfg.auto.enabled and list(cfg.auto.t_M) == [300, 400, 500]
    # the world's collage candidate gives way: a prior set is a prior drawn, at your bandwidth
    assert dict(cfg.auto.candidates) == {"your settings": []} and cfg.sampler.source == "prior"
    assert cfg.prior.bandwidth == 0.5
    assert "keeps your prior.bandwidth=0.5 (and so sampler.source=prior" in cfg.auto.note


def test_the_worlds_choice_keeps_a_given_source_and_collage_setting():
    cfg = emoji("sampler=slerp")
    assert dict(cfg.auto.candidates) == {"your settings": []} and "keeps your sampler.source=slerp" in cfg.auto.note
    cfg = emoji("sampler.collage_cells=4")
    assert list(cfg.auto.candidates.collage) == ["sampler.source=collage", "sampler.collage_parts=4"]
    assert cfg.sampler.collage_cells == 4


def test_a_prior_no_source_draws_from_is_said(caplog):
    with caplog.at_level("WARNING", logger="unseen"):
        compose("sampler=slerp", "prior.bandwidth=0.5", output_dir="/tmp/unused", say=True)
    assert "prior.bandwidth=0.5 has no effect: sampler.source=slerp draws no prior" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="unseen"):
        compose("prior.bandwidth=0.5", output_dir="/tmp/unused", say=True)
    assert "has no effect" not in caplog.text


def test_the_worlds_choice_at_its_defaults_chooses_quietly():
    cfg = emoji()
    assert cfg.auto.enabled and cfg.auto.note is None and "conf/world/emoji.yaml" in cfg.auto.by


def test_experiment_auto_replaces_the_users_values_and_says_which():
    cfg = emoji("experiment=auto", "mixing.t_M=450", "prior.bandwidth=0.5")
    assert cfg.auto.enabled and cfg.auto.by == "experiment=auto"
    assert "replaces your own mixing.t_M=450, prior.bandwidth=0.5" in cfg.auto.note
    assert compose("experiment=auto", output_dir="/tmp/unused").auto.note is None


def sweep(packages, tmp_path, *overrides):
    """A two-job sweep on the emoji world (a made package; the tiny model: the test must not need emoji_ddpm)."""
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "-m", "target=emoji", f"target.path={packages}",
                           "target.category=faces", "target.num_references=6", "sampler.count=4", "auto.count=4",
                           "eval=none", "mixing.reconstruct=0", "logger=none", "progress=false", *overrides,
                           f"cache_dir={tmp_path / 'cache'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [tmp_path / "sweep" / str(i) for i in range(2)]
    import yaml

    return ([json.loads((j / "metrics.json").read_text()) for j in jobs],
            [yaml.safe_load((j / "config.yaml").read_text()) for j in jobs])


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    from tests.helpers import make_packages

    return make_packages(tmp_path_factory.mktemp("emoji"))


def test_a_t_M_sweep_on_the_emoji_world_runs_each_value(packages, tmp_path):
    metrics, configs = sweep(packages, tmp_path, "mixing.t_M=300,500")
    assert [m["t_M"] for m in metrics] == [300, 500] and [c["mixing"]["t_M"] for c in configs] == [300, 500]
    assert all("auto" not in m and "stepped aside" in m["choice"]["note"] for m in metrics)
    # the jobs differ in exactly the swept value
    differ = {k for k in metrics[0] if k not in ("seconds", "total_seconds", "unet_evaluations", "provenance")
              and metrics[0][k] != metrics[1][k]}
    assert "t_M" in differ and "source" not in differ and "choice" in differ


def test_a_bandwidth_sweep_on_the_emoji_world_keeps_each_value(packages, tmp_path):
    metrics, configs = sweep(packages, tmp_path, "prior.bandwidth=0.5,2")
    assert [c["prior"]["bandwidth"] for c in configs] == [0.5, 2.0]
    assert all(m["auto"]["chosen"]["t_M"] == m["t_M"] for m in metrics)  # t_M still chosen: the user left it open
    assert all("keeps your prior.bandwidth" in m["choice"]["note"] for m in metrics)


def test_the_worlds_hidden_choice_says_what_it_costs_before_it_starts():
    from unseen.job.auto import plan

    cfg = emoji("sampler.count=8")
    line = plan(cfg, 64)
    # 64 references inverted to t_M 500 (50 steps) and 3 candidates x 32 samples at 40 steps on average, against
    # the run's own 8 samples x 30 steps
    assert "target=emoji's default t_M choice" in line and "about 7,040 UNet evaluations" in line
    assert "the run's own generation: about 240" in line and "set mixing.t_M to skip" in line


def test_the_worlds_collage_joins_no_more_references_than_a_small_K_has():
    cfg = emoji("target.num_references=5")  # auto fits on 3 of them
    assert list(cfg.auto.candidates.collage) == ["sampler.source=collage", "sampler.collage_parts=3"]
    assert emoji("target.num_references=5", "mixing.t_M=300").sampler.collage_parts == 3
