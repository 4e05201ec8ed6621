"""experiment=auto (unseen.job.auto): a stage that returns a finished config, chosen among candidates the entry
layer checked and turned into typed configs."""

import logging
import re

import pytest

from tests.helpers import make_cfg, run
from unseen.errors import UserError

AUTO = ["experiment=auto", "target.num_references=16", "auto.t_M=[100,200]", "auto.count=4", "mixing.t_M=300",
        "sampler.count=4", "sampler.batch_size=4", "mixing.steps=null", "mixing.reconstruct=0",
        "~auto.candidates.pca", "~auto.candidates.residual",
        "~auto.candidates.mixture_sym"]


def test_auto_runs_once_on_the_finished_config(tmp_path, caplog):
    """The two bugs of the config swapped mid-run: the log line printed the t_M from before the choice, and
    mixing.generate_steps was dropped."""
    with caplog.at_level(logging.INFO, logger="unseen"):
        metrics = run(make_cfg([*AUTO, "mixing.generate_steps=5"], tmp_path / "run"))
    chosen = metrics["auto"]["chosen"]["t_M"]
    assert chosen in (100, 200) and metrics["t_M"] == chosen
    inverting = [r.getMessage() for r in caplog.records if r.getMessage().startswith("inverting")]
    assert inverting == [f"inverting 16 references to t_M = {chosen} in {chosen // 10} steps"]
    assert metrics["generation_steps"] == 6  # 5 steps + the final one to the clean image
    assert metrics["inversion_steps"] == chosen // 10


def test_auto_candidates_are_checked_on_the_references_auto_fits_on(tmp_path, caplog):
    """K = 16 and holdout 0.25: auto fits on 12. A pca candidate with 12 components needs 13: valid with all 16, so
    it is skipped with a warning naming it (the preset's pca at 10 shots used to stop the whole run); one invalid
    with all 16 too is an error naming it, and so is every candidate needing more."""
    from unseen.job.checks import validate

    big = "+auto.candidates.big=['sampler.source=prior','prior.variance=pca','prior.components=12']"
    with caplog.at_level(logging.WARNING, logger="unseen"):
        validate(make_cfg([*AUTO, big], tmp_path / "run"))
    assert re.search(r"auto.candidates.big: the 'pca' prior needs at least 13 references.*fitting on 12 of your 16 "
                     r"references.*: skipped", caplog.text)
    huge = "+auto.candidates.huge=['sampler.source=prior','prior.variance=pca','prior.components=20']"
    with pytest.raises(UserError, match=r"auto.candidates.huge: the 'pca' prior needs at least 21 references"):
        validate(make_cfg([*AUTO, huge], tmp_path / "run"))
    only = ["experiment=auto", "target.num_references=16", "auto.count=4", "mixing.steps=null", "~auto.candidates.pca",
            "~auto.candidates.residual", "~auto.candidates.mixture_sym", "~auto.candidates.mixture",
            "~auto.candidates.slerp", "~auto.candidates.collage", big]
    with pytest.raises(UserError, match="no candidate can run: add references"):
        validate(make_cfg(only, tmp_path / "run"))


def test_auto_at_ten_shots_runs_without_the_presets_pca(tmp_path):
    """The field's 10-shot protocol with experiment=auto: auto fits on 8, the preset's pca (8 components) cannot
    run there; the choice goes on without it and says why in metrics.json."""
    m = run(make_cfg(["experiment=auto", "target.num_references=10", "auto.t_M=[100]", "auto.count=4",
                      "mixing.t_M=300", "sampler.count=4", "sampler.batch_size=4", "mixing.steps=null",
                      "mixing.reconstruct=0", "~auto.candidates.mixture_sym", "~auto.candidates.residual"],
                     tmp_path / "run"))
    by_name = {c["candidate"]: c for c in m["auto"]["candidates"]}
    assert by_name["pca"]["score"] == float("inf") and "needs at least 9 references" in by_name["pca"]["error"]
    assert m["auto"]["chosen"]["candidate"] in ("mixture", "slerp") and m["auto"]["fitting_references"] == 8


def test_auto_is_skipped_for_the_models_own_samples(tmp_path, caplog):
    """sampler=id draws pure noise: there is no t_M to choose (the emoji world turns auto on by default, and
    its own-samples check is `... sampler=id`)."""
    with caplog.at_level(logging.INFO, logger="unseen"):
        m = run(make_cfg([*AUTO, "sampler=id"], tmp_path / "id"))
    assert "auto" not in m and m["source"] == "id"
    assert "auto: skipped, sampler.source=id does not use t_M" in caplog.text


def test_candidates_are_typed_configs_that_auto_varies(tmp_path):
    """The entry layer turns auto.candidates' overrides into whole typed configs, auto off in each; auto varies
    their t_M and count (specs.varied) and shares every other value; its module builds no config text."""
    import dataclasses
    from pathlib import Path

    from unseen import specs
    from unseen.job import config

    cands = config.candidate_specs(make_cfg([*AUTO, "mixing.generate_steps=5"], tmp_path / "run"))
    assert set(cands) == {"mixture", "slerp", "collage"}
    assert all(isinstance(c, specs.Config) and not c.auto.enabled for c in cands.values())
    assert cands["slerp"].sampler.source == "slerp" and cands["mixture"].prior.variance == "mixture"
    v = specs.varied(cands["slerp"], t_M=200, count=4)
    assert (v.mixing.t_M, v.sampler.count, cands["slerp"].mixing.t_M, cands["slerp"].sampler.count) == (200, 4, 300, 4)
    assert v.mixing.generate_steps == 5 and v.prior == cands["slerp"].prior and v.target == cands["slerp"].target
    assert dataclasses.replace(v.mixing, t_M=300) == cands["slerp"].mixing
    text = (Path(specs.__file__).parent / "job" / "auto.py").read_text()
    assert "with_overrides" not in text and "mixing.t_M=" not in text and "omegaconf" not in text
