"""The command line: ``unseen [group=choice ...] [key=value ...]``, the same arguments as ``python run.py``.

This is the one module that wires concrete parts (docs/design.md section 5): it plugs the tiny world
into the registry, then hands the command line to Hydra. Before Hydra makes any folder it checks
what can be checked without a model (the config composes, every value is valid, the output and
cache folders are writable, files such as the Inception weights exist), so bad input costs
seconds, not an inversion, and ends in one line and exit code 2.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from unseen import distributed
from unseen.config import register
from unseen.errors import ConfigError, UserError

log = logging.getLogger("unseen")

EXIT_USER_ERROR = 2
CONFIG_MODULE = "unseen.conf"
# Hydra's own flags: -m / --multirun is understood here; with any other the check is left to Hydra.
_MULTIRUN_FLAGS = {"-m", "--multirun"}


def wire() -> None:
    """Plug the concrete parts into the registry: the tiny world's target kind, model and feature network."""
    from unseen.world import plugin

    plugin.register()
    register()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _job(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from unseen.pipeline import run
    from unseen.report import summary

    wire()  # again: a launcher (submitit) may run the job in a fresh process that never ran main()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        metrics = run(cfg, group=_sweep_group(), dist=_dist)
    except UserError as err:
        # One line naming the problem and the fix; no traceback for input the user can correct.
        log.error("error: %s", err)
        if multirun:  # the other jobs still run; the sweep summary marks this one and the sweep exits 2
            return None
        sys.exit(EXIT_USER_ERROR)
    except Exception:
        if multirun:
            log.exception("error: the job failed")
            return None
        raise
    if not _dist.main:
        return None
    print(summary(metrics, cfg.output_dir), flush=True)
    # The returned value is what a Hydra sweeper would optimise: the target-domain hit rate where known.
    return metrics.get("domain_rates", {}).get("target_rate")


def _sweep_group() -> str | None:
    """Runs of one multirun share a logger group named after the sweep's folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    return "sweep-" + "-".join(Path(hc.sweep.dir).parts[-2:])


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so the staging folder is removed on the way out."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise Terminated()


_dist = distributed.SINGLE  # this process's place in a torchrun job


def main(argv: list[str] | None = None) -> None:
    """``unseen`` console script and ``python run.py`` (also under ``torchrun``: one job over N processes)."""
    global _dist
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    args = sys.argv[1:]
    wire()
    try:
        _dist = distributed.setup()
        cfg = precheck(args)
        if _dist.active:
            sys.argv += _shard_overrides(args, cfg)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _job()
    except KeyboardInterrupt as err:
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        if _dist.active:
            what += f" (rank {_dist.rank} of {_dist.world}: a rank failed or was stopped; torchrun names it)"
        print(f"{what}: no results were written (the inversion cache keeps every finished point; the same "
              f"command resumes)", file=sys.stderr, flush=True)
        sys.exit(143 if isinstance(err, Terminated) else 130)
    finally:
        distributed.teardown()
    from unseen.sweep import last_sweep_failures

    failed = last_sweep_failures()
    if failed:
        print(f"error: {failed} job(s) of the sweep failed; summary.csv names each with its error",
              file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _shard_overrides(args: list[str], cfg: DictConfig | None) -> list[str]:
    """Under torchrun: every rank writes to the folder rank 0 chose (``${now:...}`` may differ between ranks),
    and only rank 0 keeps Hydra's record (.hydra/, the log file) there."""
    if any(a in _MULTIRUN_FLAGS for a in args):
        raise UserError("torchrun shards one job over its processes; a sweep (-m) is launched without torchrun "
                        "(hydra/launcher=submitit_slurm gives each job its own GPUs)")
    if cfg is None:
        raise UserError("under torchrun, give run.py overrides only (no Hydra flags such as --cfg)")
    run_dir = _dist.broadcast(str(Path(cfg.hydra.run.dir).absolute()) if _dist.main else None)
    extra = [f"hydra.run.dir={run_dir}"]
    if not _dist.main:
        extra += ["hydra.output_subdir=null", "hydra/job_logging=stdout"]
    return extra


# ---------------------------------------------------------------------------------------------------------------
# Checks before Hydra starts


def precheck(args: list[str]) -> DictConfig | None:
    """Raise a UserError for input that would fail later: composition, values, files, folders. Returns the
    composed config (with Hydra's part) of a single run, or None."""
    flags = [a for a in args if a.startswith("-")]
    if any(f not in _MULTIRUN_FLAGS for f in flags):
        return None  # --help, --cfg, -cn ...: Hydra's own business
    overrides = [a for a in args if not a.startswith("-")]
    multirun = bool(flags)
    for variant in _variants(overrides) if multirun else [overrides]:
        cfg = compose(variant)
    from unseen.pipeline import preflight

    if multirun:
        _check_can_create(cfg.hydra.sweep.dir, "the sweep folder (hydra.sweep.dir)")
        return None  # values are checked per job: one bad job must not stop the others
    _check_can_create(cfg.hydra.run.dir, "the output folder (hydra.run.dir)")
    preflight(cfg)
    return cfg


def compose(overrides: list[str]) -> DictConfig:
    """The job's config as Hydra will compose it, or a ConfigError with one line naming the fix."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(CONFIG_MODULE, version_base="1.3"):
            return hydra_compose("config", overrides=overrides, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(one_line(err)) from err


def _variants(overrides: list[str]) -> list[list[str]]:
    """For a sweep, one override list per swept value (the others at their first value): every value is
    composed once, without composing the whole product."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise ConfigError(one_line(err)) from err
    values = []
    for o in parsed:
        if not o.is_sweep_override():
            values.append([o.input_line])
            continue
        try:
            values.append([f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()])
        except Exception:  # noqa: BLE001 - a glob or an interval only the sweeper expands: left to it
            continue
    first = [v[0] for v in values]
    variants = [first]
    for i, vs in enumerate(values):
        variants += [first[:i] + [v] + first[i + 1:] for v in vs[1:]]
    return variants


def one_line(err: BaseException) -> str:
    """Hydra's and OmegaConf's multi-line messages, as one line that keeps the valid choices."""
    cause = err.__cause__ if err.__cause__ is not None else None
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text, options = [], []
    in_options = False
    for line in lines:
        if line.startswith("Available options in"):
            in_options = True
            continue
        if line.startswith("Config search path"):
            break
        if in_options:
            options.append(line)
        elif not line.startswith(("full_key:", "object_type=", "reference_type=")):
            text.append(line)
    message = " ".join(text).removeprefix("In 'config': ")
    if cause is not None and str(cause).strip():
        reason = " ".join(line.strip() for line in str(cause).splitlines()
                          if line.strip() and not line.strip().startswith(("full_key:", "object_type=",
                                                                          "reference_type=")))
        if reason not in message:
            message = f"{message}: {reason}"
    if options:
        message += f"; valid choices: {', '.join(options)}"
    if message.startswith("Could not override"):
        key = message.split("'")[1]
        message = (f"unknown config key {key!r} ({reason if cause is not None else message}): check its spelling; "
                   f"`python run.py --cfg job` prints every key")
    return message


def _check_can_create(folder: str, what: str) -> None:
    """Fail now if ``folder`` could not be made: its nearest existing ancestor must be a writable folder."""
    import tempfile

    path = Path(folder).expanduser().absolute()
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"cannot create {what} {path}: {ancestor} is a file, not a folder; choose another place")
    try:
        Path(tempfile.mkdtemp(dir=ancestor, prefix=".unseen-probe-")).rmdir()
    except OSError as err:
        raise UserError(f"cannot create {what} {path}: {ancestor} is not writable ({err.strerror or err}); "
                        f"choose another place") from err


if __name__ == "__main__":
    main()
