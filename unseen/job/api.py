"""The Python API, the one composition root besides the command line: it wires the built-in parts (the tiny
world's target kind, model and feature network) into the registry and runs jobs from overrides exactly as
``python run.py`` takes them::

    import unseen
    r = unseen.run("target=squares", "sampler.count=8")
    r.dir          # the result folder
    r.metrics      # the dict written to metrics.json

Studies, benchmarks, ``unseen.baselines.finetune`` and the tests build their runs here; ``prepare`` gives the loaded
model, the target and the run's grids (the pipeline's own stages) to code that drives the method by hand.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from unseen.job import config
from unseen.job.distributed import SINGLE, Dist
from unseen.specs import Config

RUN_DIR_KEYS = ("output_dir=", "hydra.run.dir=")


def wire() -> None:
    """Plug the concrete parts into the registry (idempotent): the tiny and emoji worlds, and the config schema."""
    from unseen.worlds.emoji import plugin as emoji_plugin
    from unseen.worlds.tiny import plugin

    plugin.register()
    emoji_plugin.register()
    config.register()


def default_run_dir() -> Path:
    """outputs/<date>/<time with microseconds>: two runs started in the same second get two folders."""
    now = datetime.datetime.now()
    return Path("outputs") / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S-%f")


def compose(*overrides: str, output_dir: str | os.PathLike | None = None, say: bool = False) -> DictConfig:
    """The job's config from command-line overrides, its ``output_dir`` set (``output_dir=`` or
    ``hydra.run.dir=`` among the overrides, the argument, or a fresh default folder), and its default choices
    settled around the values the user set (unseen.job.choices; ``say``: log what was decided)."""
    from unseen.job.choices import settle

    wire()
    check_overrides(overrides)
    given = [o.split("=", 1)[1] for o in overrides if o.startswith(RUN_DIR_KEYS)]
    rest = [o for o in overrides if not o.startswith(RUN_DIR_KEYS)]
    cfg = settle(config.compose(rest), rest, say)
    cfg.output_dir = str(output_dir or (given[-1] if given else default_run_dir()))
    return cfg


def check_overrides(overrides) -> None:
    """Overrides are strings as on the command line ("target=squares"); anything else is one clear error."""
    from unseen.errors import UserError

    bad = [o for o in overrides if not isinstance(o, str)]
    if bad:
        raise UserError(f"overrides are strings as on the command line (unseen.run(\"target=squares\", "
                        f"\"sampler.count=8\")), got {bad[0]!r} ({type(bad[0]).__name__})")


@dataclass
class Result:
    dir: Path  # the result folder
    metrics: dict  # what metrics.json holds
    config: Config  # the config the run ran on (before experiment=auto's choice: metrics["auto"] has it)


def run(*overrides: str, output_dir: str | os.PathLike | None = None) -> Result:
    """Run one job, as ``python run.py OVERRIDES`` does. Bad input raises ``unseen.errors.UserError`` (a
    ValueError) with one line naming the fix, before any work."""
    from unseen.job.output import remove_if_made

    if output_dir is not None and not isinstance(output_dir, (str, os.PathLike)):
        from unseen.errors import UserError

        raise UserError(f"output_dir is a folder (a str or a path), got {output_dir!r}")
    cfg = compose(*overrides, output_dir=output_dir, say=True)
    from unseen.job.checks import preflight

    preflight(cfg)
    made = not Path(cfg.output_dir).exists()
    try:
        return run_config(cfg, checked=True)
    except BaseException:
        if made:  # a late failure leaves no empty folder behind
            remove_if_made(Path(cfg.output_dir))
        raise


def run_config(cfg: DictConfig, group: str | None = None, dist: Dist = SINGLE, checked: bool = False) -> Result:
    """Run a composed config (the CLI's entry, with Hydra's config; ``dist`` under torchrun): checked (unless
    ``checked``: the caller did), then turned once into the typed specs the pipeline runs on."""
    from unseen.job.checks import preflight
    from unseen.job.pipeline import run as run_pipeline

    wire()
    if not checked:
        preflight(cfg)
    spec = config.to_spec(cfg)
    candidates = config.candidate_specs(cfg) if spec.auto.enabled else {}
    metrics = run_pipeline(spec, candidates, group=group, dist=dist)
    return Result(Path(spec.output_dir), metrics, spec)


@dataclass
class Prepared:
    """What the pipeline's first stages make, for code that drives the method step by step."""

    cfg: Config
    loaded: "object"  # unseen.job.stages.Loaded: .model, .predictor, .device
    target: "object"  # unseen.data.Target: .images (the references), .eval_images, .scorer
    grids: "object"  # unseen.job.stages.Grids: .inversion, .generation (from the mixing group)


def prepare(*overrides: str, target: bool = True) -> Prepared:
    """The model, the target (``target``) and the grids of the job ``overrides`` describe, loaded by the
    pipeline's own stages, with every value checked first."""
    from unseen.job import stages
    from unseen.job.checks import validate

    composed = compose(*overrides, output_dir=os.devnull)
    validate(composed)
    cfg = config.to_spec(composed)
    loaded = stages.load(cfg)
    return Prepared(cfg, loaded, stages.load_target(cfg, loaded.model.resolution) if target else None,
                    stages.grids(cfg))
