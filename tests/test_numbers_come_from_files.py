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
    assert readme_numbers.fill(text) == text, "README's result blocks drifted: run python -m experiments.readme"
    for name in readme_numbers.BLOCKS:
        block = re.search(rf"<!-- numbers:{name} -->\n(.*?)<!-- /numbers:{name} -->", text, re.S).group(1)
        assert re.search(r"\d", block), name  # a block that says nothing would pass trivially


def test_readme_benchmark_blocks_are_generated_from_the_results():
    text = README.read_text()
    assert bench_report.fill(text, bench_report.blocks()) == text, \
        "README's benchmark tables drifted: run python -m benchmarks.report"


def test_a_drifted_number_is_caught(monkeypatch):
    """The check can fail: the default job's FID changed in its file and not in the README."""
    default = (ROOT / "experiments" / "results" / "default" / "metrics.json").read_text()
    real, loads = json.loads(default), json.loads
    real["fid_kid"]["fid"] += 1.0
    monkeypatch.setattr(readme_numbers.json, "loads", lambda text: real if text == default else loads(text))
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
    assert current.split("\n", 1)[1] == made, "EXPERIMENTS.md drifted: run python -m experiments.assemble"


@pytest.mark.parametrize("stale", ["FID 532", "0 of 64", "94-97%", "~6 min here", "TF32 off;", "fit a Gaussian to",
                                   "It writes, into `outputs/<date>/<time>/`:\nIt writes"])
def test_the_drifts_issue_13_listed_are_gone(stale):
    assert stale not in README.read_text()


def test_the_tiny_worlds_figures_are_its_train_stats():
    stats = json.loads((ROOT / "unseen" / "worlds" / "tiny" / "assets" / "tiny_ddpm" / "train_stats.json").read_text())
    classifier = json.loads((ROOT / "unseen" / "worlds" / "tiny" / "assets" / "classifier" / "train_stats.json").read_text())
    own, psnr = stats["own_samples"], stats["reconstruction_psnr_t500"]["psnr_db"]
    text = " ".join(README.read_text().split())
    assert f"trained on disks only ({stats['step']} steps of batch {stats['training']['batch']}" in text
    assert f"are {own['domain_rates']['disks']:.1%} disks ({own['count']} samples)" in text
    assert f"only {own['unclipped_domain_rates']['disks']:.0%} are" in text
    assert (f"{psnr['squares']:.1f} dB (squares), {psnr['stripes']:.1f} (stripes), {psnr['letters']:.1f} (letters), "
            f"{psnr['crosses']:.1f} (crosses), {psnr['smileys']:.1f} (smileys)") in text
    assert f"accuracy >= {min(classifier['held_out_accuracy'].values()):.3f} on each" in text


def _values(files) -> set[float]:
    """Every number in the committed results (CSV fields; Markdown numbers, thousands with commas), at the
    roundings prose uses."""
    numbers = []
    for f in files:
        text = f.read_text()
        if f.suffix == ".csv":
            tokens = re.split(r"[,\n]", text)
        else:
            tokens = [t.replace(",", "") for t in re.findall(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?", text)]
        for t in tokens:
            try:
                numbers.append(float(t))
            except ValueError:
                continue
    return {round(v, d) for v in numbers for d in (0, 1, 2, 3)}


def unsourced(template: str) -> list[str]:
    """The numbers of ``template``'s prose (outside pasted tables and commands; percentages as fractions,
    thousands with commas; section numbers aside) that no file in experiments/results/ holds."""
    prose = re.sub(r"```.*?```", "", re.sub(r"\{\{[^}]+\}\}", "", template), flags=re.S)
    prose = re.sub(r"(section|sections|### |## )\s*[\d.]+(-[\d.]+)?", "", prose)
    prose = re.sub(r"(\d+)-(\d+)%", r"\1% - \2%", prose)  # 53-100%: both ends are percentages
    known = _values(f for f in (ROOT / "experiments" / "results").rglob("*") if f.suffix in (".md", ".csv"))
    missing = []
    for m in re.finditer(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+\.\d+|\d+)(%?)", prose):
        v = float(m.group(1).replace(",", ""))
        if not any(round(c, d) in known for c in ({v, v / 100} if m.group(2) else {v}) for d in (0, 1, 2, 3)):
            missing.append(prose[max(0, m.start() - 30):m.end() + 5].replace("\n", " "))
    return missing


def test_every_number_in_the_experiments_prose_is_in_a_results_file():
    """EXPERIMENTS.md's prose cites its tables: each number in it appears in a committed results file."""
    missing = unsourced((ROOT / "experiments" / "EXPERIMENTS.template.md").read_text())
    assert missing == [], " | ".join(missing)
    assert len(unsourced("a run of 3141.59 s, 41,777 evaluations")) == 2  # the check can fail


def test_the_published_table_is_rendered_from_its_csv():
    """The field's numbers are typed into one CSV (each row naming its paper and table); the table README and
    EXPERIMENTS.md show is what experiments/published.py makes of it, so a value edited in one place is caught."""
    import csv

    published = load(ROOT / "experiments" / "published.py", "published_table")
    table = published.FOLDER / "fewshot_10shot.csv"
    assert published.render(table) == (published.FOLDER / "fewshot_10shot.md").read_text()
    assert all(r["source"] and float(r["value"]) > 0 for r in csv.DictReader(table.open()))
    assert "| CDC | GAN fine-tuning | 74.39 | 0.583 ± 0.014 |" in README.read_text()


def test_the_emoji_fewshot_table_is_its_runs_metrics():
    """experiments/emoji_fewshot.py's table is what it makes of the committed runs' metrics.json (the one schema's
    fields): a value edited in the table, or a run replaced without re-rendering, is caught."""
    import csv

    fewshot = load(ROOT / "experiments" / "emoji_fewshot.py", "emoji_fewshot_table")
    rows, text = fewshot.table()
    assert text == (fewshot.FOLDER / "emoji_fewshot.md").read_text()
    committed = list(csv.DictReader((fewshot.FOLDER / "emoji_fewshot.csv").open()))
    assert [r["category"] for r in committed] == [r["category"] for r in rows] and rows
    for r, c in zip(rows, committed):
        metrics = json.loads((fewshot.FOLDER / r["category"] / "metrics.json").read_text())
        assert float(c["target_rate"]) == metrics["domain_rates"]["target_rate"] == r["target_rate"]
        assert int(c["samples"]) == metrics["fid_kid"]["num_fake"] == 5000  # the protocol's count, as run


def test_the_ten_shot_comparison_pairs_clusters_by_reference():
    """emoji.py's ten-shot table: each cluster's diversity minus the same reference's cluster under fine-tuning,
    clusters either run left empty skipped; its committed FIDs are the emoji table's rows'."""
    import csv

    emoji = load(ROOT / "experiments" / "emoji.py", "emoji_study")
    rows = [{"category": "faces", "K": 10.0, "setting": "default command", "intra_cluster": 7.0, "fid": 120.0,
             "unet_evaluations": 1, "intra_cluster_each": [7.0, 8.0, 6.0, None]},
            {"category": "faces", "K": 10.0, "setting": "fine-tuned 500 steps", "intra_cluster": 5.0, "fid": 110.0,
             "unet_evaluations": 2, "intra_cluster_each": [6.0, 6.0, None, 4.0]},
            {"category": "flags", "K": 10.0, "setting": "default command", "intra_cluster": 7.0, "fid": 1.0,
             "unet_evaluations": 1, "intra_cluster_each": [1.0, 2.0]}]  # no fine-tuned row: no comparison
    [r] = emoji.ten_shot(rows)
    assert r["category"] == "faces" and r["clusters"] == 2 and r["difference"] == 1.5  # (1 + 2) / 2
    assert 1.0 <= r["difference_low"] <= 1.5 <= r["difference_high"] <= 2.0
    assert r["intra_cluster_at_least"] and not r["fid_at_least"]
    folder = ROOT / "experiments" / "results" / "emoji"
    committed = {(c["category"], c["setting"]): c for c in csv.DictReader((folder / "emoji.csv").open())
                 if float(c["K"]) == 10}
    tenshot = list(csv.DictReader((folder / "emoji_tenshot.csv").open()))
    assert {t["category"] for t in tenshot} == {"faces", "flags"}
    for t in tenshot:
        assert float(t["fid_method"]) == float(committed[t["category"], "default command"]["fid"])
        assert float(t["fid_finetuned"]) == float(committed[t["category"], t["fine_tuning"]]["fid"])
