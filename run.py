"""Entry point: ``python run.py [group=choice ...] [key=value ...]`` (Hydra). See README.md."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from unseen.config import register

register()
log = logging.getLogger("unseen")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from unseen.errors import UserError
    from unseen.geometry import GeometryRejectError
    from unseen.ddim import NonFiniteError
    from unseen.pipeline import run
    from unseen.report import summary

    try:
        metrics = run(cfg, group=_sweep_group())
    except (UserError, GeometryRejectError, NonFiniteError) as err:
        # One line naming the problem and the fix; no traceback for input the user can correct.
        log.error("error: %s", err)
        sys.exit(2)
    print(summary(metrics, cfg.output_dir), flush=True)
    # The returned value is what a Hydra sweeper would optimise: the target-domain hit rate where known.
    return metrics.get("domain_rates", {}).get("target_rate")


def _sweep_group() -> str | None:
    """Runs of one multirun share a logger group named after the sweep's folder."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    return "sweep-" + "-".join(Path(hc.sweep.dir).parts[-2:])


if __name__ == "__main__":
    main()
