"""Experiment tracking. W&B runs offline by default (no network, no account); a failure to log is a
warning, never a failed run: the results are already on disk when logging starts."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from unseen.specs import Config

log = logging.getLogger(__name__)


def log_run(cfg: Config, metrics: dict, out: Path, diagnostics: dict[str, dict[str, torch.Tensor]],
            group: str | None = None) -> None:
    lc = cfg.logger
    if lc.name == "none":
        return
    if lc.name != "wandb":
        log.warning("logger %r is not known; nothing was logged", lc.name)
        return
    before = set((out / "wandb").glob("*")) if (out / "wandb").is_dir() else set()
    try:
        _log_wandb(cfg, metrics, out, diagnostics, group)
    finally:  # the logger's run folder is the run's too: listed, so a rerun removes it
        from unseen.job.output import add_to_manifest

        made = set((out / "wandb").glob("*")) - before if (out / "wandb").is_dir() else set()
        if made:
            add_to_manifest(out, [str(p.relative_to(out)) for p in made])


def _homeless_defaults() -> None:
    """Without $HOME (a bare container, a cron job) W&B's service finds no cache, config or log folder and prints
    a dozen lines with "ERROR" among them; give it folders under the temp folder instead (only what is unset)."""
    if os.environ.get("HOME") or os.environ.get("XDG_CACHE_HOME"):
        return
    import tempfile

    base = Path(tempfile.gettempdir()) / f"unseen-wandb-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    os.environ.setdefault("XDG_CACHE_HOME", str(base / "cache"))
    os.environ.setdefault("XDG_CONFIG_HOME", str(base / "config"))
    os.environ.setdefault("WANDB_CONFIG_DIR", str(base / "config" / "wandb"))
    os.environ.setdefault("WANDB_CACHE_DIR", str(base / "cache" / "wandb"))


def _log_wandb(cfg: Config, metrics: dict, out: Path, diagnostics: dict[str, dict[str, torch.Tensor]],
               group: str | None) -> None:
    lc = cfg.logger
    try:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        _homeless_defaults()
        run = wandb.init(project=lc.project, entity=lc.entity, mode=lc.mode, group=lc.group or group,
                         tags=list(lc.tags), dir=str(out), name=f"{cfg.target.name}-tM{cfg.mixing.t_M}-{out.name}",
                         config=dataclasses.asdict(cfg), reinit="create_new",
                         settings=wandb.Settings(console="off"))
        from unseen.evaluation.metrics import flatten

        payload = {k: v for k, v in flatten(metrics, sep="/").items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        payload["grid"] = wandb.Image(str(out / "grid.png"), caption="references (top) | samples")
        # The geometry criteria of the references (leave-one-out), of every prior draw and of the kept ones:
        # how far the band is from where the draws fall.
        for population, values in diagnostics.items():
            for criterion, v in values.items():
                if len(v):
                    payload[f"geometry/{criterion}/{population}"] = wandb.Histogram(v.double().numpy())
        if "auto" in metrics:  # experiment=auto: every candidate with its score, the chosen one marked
            rows = metrics["auto"]["candidates"]
            fields = list(dict.fromkeys(k for r in rows for k in r))
            chosen = metrics["auto"]["chosen"]
            payload["auto/candidates"] = wandb.Table(
                columns=[*fields, "chosen"],
                data=[[r.get(k) for k in fields] + [r["candidate"] == chosen["candidate"] and r["t_M"] == chosen["t_M"]]
                      for r in rows])
        payload["nearest"] = wandb.Image(str(out / "nearest.png"), caption="samples (top) | nearest references") \
            if (out / "nearest.png").is_file() else None
        run.log({k: v for k, v in payload.items() if v is not None})
        run.finish()
    except Exception as err:  # noqa: BLE001 - tracking must never fail a finished run
        log.warning("W&B logging failed (%s: %s); the results are in %s", type(err).__name__, err, out)
