"""The Python API (``unseen.run``), the metrics schema every reader goes through, the shape of the code
(pipeline.py a composer, short functions), and experiment=auto as a stage that returns a finished config."""

import ast
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SMALL, make_cfg, run
from unseen.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def test_import_unseen_stays_light():
    code = "import sys, unseen; assert callable(unseen.run.__call__); print('torch' in sys.modules)"
    light = "import sys, unseen; print('torch' in sys.modules, 'hydra' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", light], capture_output=True, text=True).stdout.split() == \
        ["False", "False"]
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_unseen_run_returns_the_folder_and_its_metrics(tmp_path):
    import unseen

    r = unseen.run("target=squares", "sampler.count=4", "sampler.batch_size=4", *SMALL[1:3], "mixing.t_M=100",
                   "mixing.reconstruct=0", "logger=none", "progress=false", f"cache_dir={tmp_path / 'c'}",
                   output_dir=tmp_path / "run")
    assert r.dir == tmp_path / "run" and r.metrics == json.loads((r.dir / "metrics.json").read_text())
    assert r.metrics["target"] == "squares" and r.metrics["samples"]["count"] == 4
    assert len(list((r.dir / "samples").glob("*.png"))) == 4
    with pytest.raises(UserError, match="sampler.count must be >= 1"):
        unseen.run("sampler.count=0", output_dir=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_hydra_run_dir_names_the_apis_folder_too(tmp_path):
    from unseen.job.api import compose

    assert compose(f"hydra.run.dir={tmp_path / 'x'}").output_dir == str(tmp_path / "x")
    assert compose(f"output_dir={tmp_path / 'y'}").output_dir == str(tmp_path / "y")


# --- one metrics schema ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema")
    return run(make_cfg(["prior=pca", "prior.components=4", "geometry=reject", "geometry.bandwidth=3"], out))


def test_every_field_of_the_schema_is_written(full_run):
    from unseen.evaluation.metrics import FIELDS, OPTIONAL, get

    missing = [name for name in FIELDS if name not in OPTIONAL and get(full_run, name) is None]
    assert missing == []
    assert get(full_run, "prior_explained") is not None  # pca writes it


def test_the_summary_names_the_new_member_goals_the_run_misses(full_run):
    from unseen.evaluation.metrics import get
    from unseen.job.report import summary

    goals = {g["goal"]: g for g in get(full_run, "goals")}
    assert set(goals) == {"target rate", "redraws", "grain", "every band", "pixel diversity"}
    # the grain goal follows the grain ratio's upper bound in the same file
    assert goals["grain"]["met"] == (get(full_run, "grain_high") <= 1.2)
    line = next(x for x in summary(full_run, "out").splitlines() if "new-member goals" in x)
    assert all(name in line for name, g in goals.items() if not g["met"])


def test_an_unknown_field_is_a_key_error_not_a_silent_none(full_run):
    from unseen.evaluation.metrics import get

    with pytest.raises(KeyError):
        get(full_run, "fid_score")


def test_readers_ask_only_for_fields_the_schema_has():
    """Every get(..., "NAME") in the summary, the sweep, the studies and the benchmarks names a field."""
    from unseen.evaluation.metrics import FIELDS

    files = [ROOT / "unseen" / "job" / n for n in ("report.py", "sweep.py", "tracking.py", "cli.py")] + \
        sorted((ROOT / "experiments").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    used = set()
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "get" \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                    and isinstance(node.args[1].value, str) and isinstance(node.args[0], ast.Name) \
                    and node.args[0].id in ("m", "metrics"):
                used.add(node.args[1].value)
    from experiments import common

    columns = {field for _, field, _ in common.COLUMNS if field}
    assert used and used <= set(FIELDS), used - set(FIELDS)
    assert columns <= set(FIELDS), columns - set(FIELDS)


# --- the code's shape -------------------------------------------------------------------------------------------


def test_pipeline_is_a_composer_and_functions_are_short():
    assert len((ROOT / "unseen" / "job" / "pipeline.py").read_text().splitlines()) <= 250
    data_tables = {("convert.py", "adm_mapping"), ("convert.py", "ddpm_mapping")}  # key maps: a table each
    long = []
    files = [f for d in ("unseen", "experiments", "benchmarks", "scripts") for f in sorted((ROOT / d).rglob("*.py"))]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (f.name, node.name) not in data_tables:
                if node.end_lineno - node.lineno + 1 > 50:
                    long.append(f"{f.relative_to(ROOT)}:{node.name} {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def test_no_source_is_special_cased_in_the_pipeline():
    text = (ROOT / "unseen" / "job" / "pipeline.py").read_text()
    for name in ("\"id\"", "\"sdedit\"", "\"slerp\"", "\"replay\"", "\"paper\""):
        assert name not in text


# --- experiment=auto: a stage that returns a finished config ----------------------------------------------------

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


def test_match_noise_starts_the_draws_where_their_noise_level_is(tmp_path):
    """sampler.match_noise: the mixture's draws are denoised from the t that prior.signal_scale gives (the grid
    continued above t_M at its spacing), and the run says so; without it they start at t_M."""
    from diffusers import DDPMScheduler

    from unseen.method import ddim

    over = ["prior=mixture", "mixing.reconstruct=0", "sampler.count=4", "sampler.batch_size=4"]
    on = run(make_cfg([*over, "sampler.match_noise=true"], tmp_path / "on"))
    off = run(make_cfg(over, tmp_path / "off"))
    ab = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").alphas_cumprod
    scale = on["prior"]["signal_scale"]
    assert 0 < scale < 1 and scale == off["prior"]["signal_scale"]
    start = ddim.matched_start(ab, 200, scale)
    assert on["match_noise"] == {"signal_scale": scale, "start_t": start} and start > 200
    grid = ddim.time_grid(200, 10)  # SMALL's linspace grid: 10 steps to t_M = 200
    assert on["generation_steps"] == len(ddim.extend_grid(grid, start)) > off["generation_steps"] == len(grid)
    assert "match_noise" not in off
    assert on["unet_evaluations"]["generate"] - off["unet_evaluations"]["generate"] == \
        4 * (on["generation_steps"] - off["generation_steps"])


def test_auto_is_skipped_for_the_models_own_samples(tmp_path, caplog):
    """sampler=id draws pure noise: there is no t_M to choose (the emoji world turns auto on by default, and
    its own-samples check is `... sampler=id`)."""
    with caplog.at_level(logging.INFO, logger="unseen"):
        m = run(make_cfg([*AUTO, "sampler=id"], tmp_path / "id"))
    assert "auto" not in m and m["source"] == "id"
    assert "auto: skipped, sampler.source=id does not use t_M" in caplog.text
