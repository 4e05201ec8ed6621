"""A Hydra callback that summarises a multirun: ``summary.csv`` and ``summary.png`` in the sweep folder.

The CSV has one row per job: its overrides and its metrics, flattened (``fid_kid.fid``,
``domain_rates.target_rate``, ...: evaluation.metrics names each column). The plot shows FID and the target hit rate against t_M,
one line per bandwidth (or per other swept key, when the bandwidth is not swept).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback

from unseen.evaluation.metrics import column, flatten
from unseen.specs import LoggerConfig

log = logging.getLogger(__name__)


_last_failures = 0  # failed jobs of the last summarised sweep in this process, for the CLI's exit code


def last_sweep_failures() -> int:
    return _last_failures


def collect(sweep_dir: Path) -> list[dict]:
    """One row per job folder: ``status`` ok with its metrics, or failed with the error its log names."""
    rows = []
    for job in sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        metrics_file, overrides_file = job / "metrics.json", job / ".hydra" / "overrides.yaml"
        if not metrics_file.is_file() and not overrides_file.is_file():
            continue  # not a job of this sweep
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        row = {"job": job.name, "status": "ok" if metrics_file.is_file() else "failed"}
        row.update({f"override.{o.split('=', 1)[0]}": o.split("=", 1)[1] for o in overrides if "=" in o})
        if metrics_file.is_file():
            row.update(flatten(json.loads(metrics_file.read_text())))
        else:
            row["error"] = job_error(job)
        rows.append(row)
    return rows


def job_error(job: Path) -> str:
    """The error line a failed job logged (``error: ...``), or what is known without one."""
    for log_file in sorted(job.glob("*.log")):
        errors = [line.split("error: ", 1)[1] for line in log_file.read_text(errors="replace").splitlines()
                  if "error: " in line]
        if errors:
            return errors[0]
    return "no metrics.json and no error logged (the job was killed, or is still running)"


def write_summary(sweep_dir: Path) -> tuple[Path, Path | None] | None:
    global _last_failures
    rows = collect(sweep_dir)
    _last_failures = sum(r["status"] == "failed" for r in rows)
    if not rows:
        log.warning("sweep summary: no job folder in %s", sweep_dir)
        return None
    for r in rows:
        if r["status"] == "failed":
            log.error("sweep job %s failed: %s", r["job"], r["error"])
    fields = list(dict.fromkeys(k for r in rows for k in r))
    csv_path = sweep_dir / "summary.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return csv_path, plot(rows, sweep_dir / "summary.png")


def plot(rows: list[dict], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["status"] == "ok"]
    labels = {column("fid"): "FID (held-out)", column("target_rate"): "target hit rate"}
    panels = [k for k in labels if any(k in r for r in rows)]
    if not panels:
        return None
    swept = [k for k in rows[0] if k.startswith("override.") and k != "override.mixing.t_M"]
    line_key = "override.geometry.bandwidth" if "override.geometry.bandwidth" in swept else (swept[0] if swept else None)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        groups: dict[str, list[tuple[float, float]]] = {}
        for r in rows:
            if metric in r:
                groups.setdefault(str(r.get(line_key, "all")), []).append((float(r[column("t_M")]),
                                                                           float(r[metric])))
        for label, points in sorted(groups.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-",
                    label=f"{line_key.removeprefix('override.')}={label}" if line_key else label)
        ax.set_xlabel("mixing step t_M")
        ax.set_ylabel(labels[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def log_summary(lc: LoggerConfig, sweep_dir: Path, csv_path: Path, png_path: Path | None) -> None:
    """The summary as one more W&B run in the sweep's group; a failure is a warning."""
    if lc.name != "wandb":
        return
    try:
        import wandb

        run = wandb.init(project=lc.project, entity=lc.entity, mode=lc.mode, dir=str(sweep_dir),
                         group=lc.group or "sweep-" + "-".join(sweep_dir.parts[-2:]), job_type="sweep-summary",
                         name="summary", reinit="create_new", settings=wandb.Settings(console="off"))
        with open(csv_path) as f:
            rows = list(csv.reader(f))
        payload = {"summary_table": wandb.Table(columns=rows[0], data=rows[1:])}
        if png_path is not None:
            payload["summary_plot"] = wandb.Image(str(png_path))
        run.log(payload)
        run.finish()
    except Exception as err:  # noqa: BLE001 - tracking never fails a finished sweep
        log.warning("W&B logging of the sweep summary failed (%s: %s)", type(err).__name__, err)


class SweepSummary(Callback):
    """Hydra's call at the end of a sweep, with Hydra's config: the one place this module reads it."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        written = write_summary(sweep_dir)
        if written:
            log.info("sweep summary: %s", ", ".join(str(p) for p in written if p))
            lc = config.logger
            logger = LoggerConfig(**{f.name: getattr(lc, f.name) for f in dataclasses.fields(LoggerConfig)})
            log_summary(logger, sweep_dir, *written)
