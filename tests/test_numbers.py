"""Every number a reader sees traces to a committed file: README's result and benchmark blocks are what
experiments/readme.py and benchmarks/report.py make of the files in experiments/results/ and
benchmarks/results/, and EXPERIMENTS.md is what experiments/assemble.py pastes from them. Change a result
file without regenerating the text (or edit the text by hand) and these fail."""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def load(path: Path, name: str):
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_numbers = load(ROOT / "experiments" / "readme.py", "readme_numbers")
bench_report = load(ROOT / "benchmarks" / "report.py", "bench_report")


def test_readme_result_blocks_are_generated_from_the_results():
    text = README.read_text()
    assert readme_numbers.fill(text) == text, "README's result blocks drifted: run python experiments/readme.py"
    for name in readme_numbers.BLOCKS:
        block = re.search(rf"<!-- numbers:{name} -->\n(.*?)<!-- /numbers:{name} -->", text, re.S).group(1)
        assert re.search(r"\d", block), name  # a block that says nothing would pass trivially


def test_readme_benchmark_blocks_are_generated_from_the_results():
    text = README.read_text()
    assert bench_report.fill(text, bench_report.blocks()) == text, \
        "README's benchmark tables drifted: run python -m benchmarks.report"


def test_a_drifted_number_is_caught(monkeypatch):
    """The check can fail: the default job's FID changed in its file and not in the README."""
    real = json.loads((ROOT / "experiments" / "results" / "default" / "metrics.json").read_text())
    real["fid_kid"]["fid"] += 1.0
    monkeypatch.setattr(readme_numbers.json, "loads", lambda text: real)
    text = README.read_text()
    assert readme_numbers.fill(text) != text


def test_experiments_md_is_assembled_from_the_results(tmp_path, monkeypatch):
    assemble = load(ROOT / "experiments" / "assemble.py", "assemble_experiments")
    template = (ROOT / "experiments" / "EXPERIMENTS.template.md").read_text()
    made = re.sub(r"\{\{(results/[^}]+)\}\}", lambda m: (ROOT / "experiments" / m.group(1)).read_text().strip()
                  if (ROOT / "experiments" / m.group(1)).is_file() else f"*(not run yet: {m.group(1)} is missing)*",
                  template)
    assert assemble.HERE == ROOT / "experiments"
    current = (ROOT / "EXPERIMENTS.md").read_text()
    assert current.split("\n", 1)[1] == made, "EXPERIMENTS.md drifted: run python experiments/assemble.py"


@pytest.mark.parametrize("stale", ["FID 532", "0 of 64", "94-97%", "~6 min", "TF32 off;", "fit a Gaussian to",
                                   "It writes, into `outputs/<date>/<time>/`:\nIt writes"])
def test_the_drifts_issue_13_listed_are_gone(stale):
    assert stale not in README.read_text()


def test_the_tiny_worlds_figures_are_its_train_stats():
    stats = json.loads((ROOT / "unseen" / "world" / "assets" / "tiny_ddpm" / "train_stats.json").read_text())
    classifier = json.loads((ROOT / "unseen" / "world" / "assets" / "classifier" / "train_stats.json").read_text())
    own, psnr = stats["own_samples"], stats["reconstruction_psnr_t500"]["psnr_db"]
    text = " ".join(README.read_text().split())
    assert f"trained on disks only ({stats['step']} steps of batch {stats['training']['batch']}" in text
    assert f"are {own['domain_rates']['disks']:.1%} disks ({own['count']} samples)" in text
    assert f"only {own['unclipped_domain_rates']['disks']:.0%} are" in text
    assert (f"{psnr['squares']:.1f} dB (squares), {psnr['stripes']:.1f} (stripes), {psnr['letters']:.1f} (letters), "
            f"{psnr['crosses']:.1f} (crosses), {psnr['smileys']:.1f} (smileys)") in text
    assert f"accuracy >= {min(classifier['held_out_accuracy'].values()):.3f} on each" in text
