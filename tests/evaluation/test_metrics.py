"""The one schema of metrics.json (unseen.evaluation.metrics): a real run writes every field, an unknown name is a
KeyError, and every reader (the summary, the sweep, the studies, the benchmarks) asks only for fields it has."""

import ast
from pathlib import Path

import pytest

from tests.helpers import make_cfg, run

ROOT = Path(__file__).resolve().parents[2]


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
