"""What every study shares: run the pipeline on a list of settings and write one table of the same metrics.

A study is a list of rows, each a label and the overrides of ``python run.py`` that make it. Every row runs
the real pipeline (``unseen.run``: the same code as the command line, the same inversion cache, so
rows that share references and t_M invert once), and its metrics.json is flattened into the study's columns:

    target rate with its Wilson 95% interval and count, FID, KID, precision, recall, diversity ratio (pixel,
    feature), memorisation (fraction of samples nearer a reference than half the references' own
    nearest-neighbour distance: pixel, feature, UNet middle block), UNet evaluations, seconds.

Outputs, in ``experiments/results/<study>/`` (or ``--out``): ``<study>.csv``, ``<study>.md`` and ``<study>.png``,
and a W&B run (offline unless ``--wandb online``) with the table and the figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

COLUMNS = [  # (column, the metrics schema's field (unseen.evaluation.metrics), format)
    ("target_rate", "target_rate", ".2f"),
    ("rate_low", "rate_low", ".2f"),
    ("rate_high", "rate_high", ".2f"),
    ("fid", "fid", ".1f"),
    ("kid", "kid", ".1f"),
    ("precision", "precision", ".2f"),
    ("recall", "recall", ".2f"),
    ("diversity_pixel", "diversity_pixel", ".2f"),
    ("diversity_feature", "diversity_feature", ".2f"),
    ("memorised_pixel", "memorised_pixel", ".2f"),
    ("memorised_feature", "memorised_feature", ".2f"),
    ("memorised_unet", "memorised_unet", ".2f"),
    ("grain", "grain", ".2f"),
    ("grain_low", "grain_low", ".2f"),
    ("grain_high", "grain_high", ".2f"),
    ("acceptance", "acceptance", ".3f"),
    ("samples", "samples", "d"),
    ("unet_evaluations", None, ",d"),
    ("seconds", "seconds", ".0f"),
]


def parser(doc: str, report: bool = False) -> argparse.ArgumentParser:
    """The studies' common options; ``report``: the study can re-render its tables from its committed CSV (a study
    without it refuses --report as an unknown option rather than rerunning every row)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="overrides for every row, as on the command line "
                                                 "(model=dog_ddpm model.checkpoint=... target=ffhq target.path=...)")
    p.add_argument("--count", type=int, default=128, help="samples per row (rates need >= 128)")
    p.add_argument("--out", default=None, help="output folder (default experiments/results/<study>)")
    p.add_argument("--wandb", default="offline", choices=["offline", "online", "disabled"])
    if report:
        p.add_argument("--report", action="store_true", help="re-render the table and figure from the committed CSV, "
                                                              "without running anything")
    p.add_argument("--emoji", action="store_true", help="--targets are emoji categories (target=emoji "
                                                         "target.category=...); choose the model in the overrides")
    return p


def target_overrides(target: str, args) -> list[str]:
    """The overrides that choose a study's target: a tiny-world domain, or (--emoji) an emoji category."""
    return ["target=emoji", f"target.category={target}"] if getattr(args, "emoji", False) else [f"target={target}"]


# The goals of the studies, judged on intervals, not point estimates: the target rate's Wilson 95% LOWER bound,
# and diversity inside a band. The upper bound (1.3) is on the diversity ratio itself rather than a precision
# floor: it is in the goal's own units, and precision at 128 samples (k = 3 balls in a 128-d space) swings with
# the sample count; a ratio far above 1 is samples spread past the domain (smileys' default: feature diversity
# 1.45 at precision 0.04), which the band now counts as a miss.
GOAL_RATE, GOAL_MEMORISED, GOAL_DIVERSITY = 0.9, 0.1, (0.9, 1.3)


def number(r: dict, key: str) -> float | None:
    v = r.get(key)
    try:
        return None if v in (None, "") else float(v)
    except (TypeError, ValueError):
        return None


def admissible(r: dict, diversity: tuple[float, float] = GOAL_DIVERSITY) -> bool:
    """No copies (pixel and classifier features) and diversity inside the band (pixels and features)."""
    keys = ["memorised_pixel", "memorised_feature", "diversity_pixel", "diversity_feature"]
    if "error" in r and r["error"] or any(number(r, k) is None for k in keys):
        return False
    return (number(r, "memorised_pixel") <= GOAL_MEMORISED and number(r, "memorised_feature") <= GOAL_MEMORISED
            and all(diversity[0] <= number(r, k) <= diversity[1] for k in ("diversity_pixel", "diversity_feature")))


def meets_goal(r: dict) -> bool:
    """The rate's Wilson lower bound >= 0.9, and ``admissible``."""
    return admissible(r) and (number(r, "rate_low") or 0.0) >= GOAL_RATE


def read_rows(name: str, args, file: str | None = None, missing_ok: bool = False) -> list[dict]:
    """A study's committed CSV (or another table of it, ``file``), numbers as numbers (for --report); none when
    ``missing_ok`` and the folder has no such file yet (a new --out)."""
    path = out_dir(name, args) / (file or f"{name}.csv")
    if missing_ok and not path.is_file():
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = None if v == "" else int(v) if v.lstrip("-").isdigit() else float(v)  # as written
            except ValueError:
                pass  # a label, an error, a boolean: kept as text
    return rows


def publish(name: str, args, rows: list[dict], text: str, figure=None, tables: dict | None = None) -> Path:
    """The one way a study writes its results, in ``experiments/results/<name>/``: <name>.csv (the rows), any
    further ``tables`` (file name -> rows), <name>.md (``text``), <name>.png (``figure(rows, path)``), and the
    W&B run. Returns the folder."""
    folder = out_dir(name, args)
    if not getattr(args, "report", False):
        write_csv(rows, folder / f"{name}.csv")
        for file, table in (tables or {}).items():
            write_csv(table, folder / file)
    (folder / f"{name}.md").write_text(text)
    images = []
    if figure is not None:
        figure(rows, folder / f"{name}.png")
        images.append(folder / f"{name}.png")
    if not getattr(args, "report", False):
        log_wandb(name, rows, folder, args.wandb, images)
    print(text)
    return folder


def prepare(*overrides: str, target: bool = True):
    """The model, target and grids of a job (``unseen.prepare``: the pipeline's own stages), for the studies that
    drive the method step by step."""
    import unseen

    return unseen.prepare("model.batch_size=128", "eval=none", "progress=false", *overrides, target=target)


def images(domain: str, count: int, seed: int):
    """``count`` images of a tiny-world domain: the references a run of target=<domain> target.seed=<seed> takes."""
    return prepare(f"target={domain}", f"target.num_references={count}", f"target.seed={seed}").target.images


def get_field(metrics: dict, name: str):
    """A field of a run's metrics, by its name in the one schema (unseen.evaluation.metrics)."""
    from unseen.evaluation.metrics import get

    return get(metrics, name)


def run_row(overrides: list[str], keep: Path | None = None) -> dict:
    """One run of the pipeline (``unseen.run``, as the command line runs it); its metrics.json as a dict, or
    {"error": ...} for a user error (a study goes on)."""
    import unseen
    from unseen.errors import UserError

    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp) / "run"
        try:
            return unseen.run(*overrides, "logger=none", "progress=false", output_dir=out).metrics
        except UserError as err:
            return {"error": str(err)}


def _row_key(overrides: list[str]) -> str:
    """The row's whole config (as composed, output paths aside) and the code that runs it (the commit and any
    uncommitted change to unseen/): a row made by another config or other code is never reused."""
    import hashlib

    from omegaconf import OmegaConf

    from unseen import compose

    cfg = compose("logger=none", "progress=false", *overrides, output_dir="-")
    cfg.output_dir = "-"
    return hashlib.sha256(OmegaConf.to_yaml(cfg, resolve=True).encode() + code_version()).hexdigest()[:24]


def code_version() -> bytes:
    """unseen/ as committed (its tree, the shipped weights included) and any uncommitted change to it: what a
    cached result was made by. Commits elsewhere (experiments/, docs) leave it unchanged."""
    import subprocess

    def git(*a: str) -> bytes:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True).stdout

    return git("rev-parse", "HEAD:unseen") + git("diff", "HEAD", "--", "unseen")


def _resumable(overrides: list[str]) -> dict:
    """``run_row``, its metrics kept under the cache by its config and code (``_row_key``): a study stopped
    part-way (a session's end) redoes only the rows it had not finished. UNSEEN_STUDY_FRESH=1 reruns every row."""
    import os

    key = _row_key(overrides)
    path = Path(os.environ.get("UNSEEN_CACHE", ROOT / ".cache" / "unseen")) / "study_rows" / f"{key}.json"
    if path.is_file() and not os.environ.get("UNSEEN_STUDY_FRESH"):
        return json.loads(path.read_text())
    metrics = run_row(overrides)
    if "error" not in metrics:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(metrics))
        tmp.replace(path)
    return metrics


def flat_row(label: dict, metrics: dict) -> dict:
    row = dict(label)
    if "error" in metrics:
        row["error"] = metrics["error"]
        return row
    from unseen.evaluation.metrics import get, unet_evaluations

    for name, field, _ in COLUMNS:
        row[name] = unet_evaluations(metrics) if field is None else get(metrics, field)
    return row


def run_study(name: str, rows: list[tuple[dict, list[str]]], args, extra_columns: dict | None = None,
              on_metrics=None) -> list[dict]:
    """Run every row (label, overrides); ``on_metrics(label, metrics)`` may add columns of its own."""
    results, started = [], time.time()
    for i, (label, overrides) in enumerate(rows):
        t0 = time.time()
        metrics = _resumable([*args.overrides, f"sampler.count={args.count}", *overrides])
        row = flat_row(label, metrics)
        if on_metrics is not None and "error" not in metrics:
            row.update(on_metrics(label, metrics) or {})
        results.append(row)
        shown = ", ".join(f"{k} {fmt(v)}" for k, v in row.items() if k not in label and v is not None)
        print(f"[{name} {i + 1}/{len(rows)} {time.time() - t0:.0f}s] {label}: {shown}", flush=True)
    print(f"[{name}] {len(rows)} rows in {time.time() - started:.0f}s", flush=True)
    return results


def with_committed(name: str, args, results: list[dict], order: list[tuple], key) -> list[dict]:
    """A study that reran some of its rows: those rows, and the committed CSV's others, in ``order`` (the keys
    ``key(row)`` of every row the study has); in a folder with no CSV yet, those rows alone."""
    new, old = {key(r): r for r in results}, {key(r): r for r in read_rows(name, args, missing_ok=True)}
    return [new.get(k) or old[k] for k in order if k in new or k in old]


def fmt(v, spec: str = ".3g") -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if spec.endswith("d"):  # a count read back from a CSV as a float
            v = int(v)
        return format(v, spec)
    if isinstance(v, int) and not isinstance(v, bool) and spec.endswith("d"):  # a count from this run's metrics
        return format(v, spec)
    return str(v)


def out_dir(name: str, args) -> Path:
    folder = Path(args.out) if args.out else HERE / "results" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_csv(rows: list[dict], path: Path) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def markdown(rows: list[dict], columns: list[str], formats: dict[str, str] | None = None) -> str:
    formats = {**{c: f for c, _, f in COLUMNS}, **(formats or {})}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if c == "target_rate" and v is not None and r.get("rate_low") is not None:
                cells.append(f"{v:.2f} [{r['rate_low']:.2f}, {r['rate_high']:.2f}]")
            elif c == "error" or (v is None and r.get("error") and c == columns[-1]):
                cells.append((r.get("error") or "")[:80])
            else:
                cells.append(fmt(v, formats.get(c, ".3g")) if not isinstance(v, str) else v)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def log_wandb(name: str, rows: list[dict], folder: Path, mode: str, images: list[Path] = ()) -> None:
    """The study's table and figures as one W&B run (offline by default: no account, no network)."""
    if mode == "disabled":
        return
    try:
        import os

        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        run = wandb.init(project="unseen-studies", name=name, mode=mode, dir=str(folder), reinit="create_new",
                         settings=wandb.Settings(console="off"))
        fields = list(dict.fromkeys(k for r in rows for k in r))
        table = wandb.Table(columns=fields, data=[[json.dumps(r.get(k)) if isinstance(r.get(k), (list, dict))
                                                   else r.get(k) for k in fields] for r in rows])
        payload = {name: table}
        payload.update({p.stem: wandb.Image(str(p)) for p in images if p.is_file()})
        run.log(payload)
        run.finish()
    except Exception as err:  # noqa: BLE001 - the CSV and Markdown are written already
        print(f"W&B logging failed ({type(err).__name__}: {err}); the results are in {folder}", flush=True)


def bar_figure(rows: list[dict], label_key: str, metrics: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if not r.get("error")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 0.35 * len(ok) + 1.5), squeeze=False)
    labels = [str(r[label_key]) for r in ok]
    for ax, m in zip(axes[0], metrics):
        values = [r.get(m) if r.get(m) is not None else float("nan") for r in ok]
        ax.barh(range(len(ok)), values)
        if m == "target_rate":
            # the rate is rounded from the judge's counts: keep the bars non-negative
            lows = [max(0.0, r["target_rate"] - r["rate_low"]) for r in ok]
            highs = [max(0.0, r["rate_high"] - r["target_rate"]) for r in ok]
            ax.errorbar(values, range(len(ok)), xerr=[lows, highs], fmt="none", ecolor="black", capsize=2)
        ax.set_yticks(range(len(ok)), labels if ax is axes[0][0] else [""] * len(ok))
        ax.invert_yaxis()
        ax.set_title(m)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
