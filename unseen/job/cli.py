"""The command line: ``unseen [group=choice ...] [key=value ...]``, the same arguments as ``python run.py``.

One of the two composition roots (with unseen.job.api, whose ``wire`` plugs the built-in parts in): it hands
the command line to Hydra. Before Hydra makes any folder it checks what can be checked without a model
(the config composes, every value is valid, the output folder is free and writable, the cache folder
is writable, files such as the Inception weights and every target image's header are readable), so bad
input costs seconds, not an inversion, and ends in one line and exit code 2. The output folder it checked
is the one Hydra uses: the CLI resolves ``hydra.run.dir`` once and passes it on.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

# Heavy imports (torch, Hydra) happen inside main(), where Ctrl-C is answered with one line.

log = logging.getLogger("unseen")

EXIT_USER_ERROR = 2
# Hydra's own flags: -m / --multirun is understood here; with any other the check is left to Hydra.
_MULTIRUN_FLAGS = {"-m", "--multirun"}
_FLAG_VALUES = {"job", "hydra", "all"}  # the value of --cfg


def _hydra_job():
    """The Hydra entry, made on first use (importing Hydra and the config path)."""
    import hydra

    from unseen.job.config import conf_dir

    @hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
    def job(cfg) -> float | None:
        return _job(cfg)

    return job


def _job(cfg) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from unseen.errors import UserError
    from unseen.evaluation.metrics import get
    from unseen.job.api import run_config, wire
    from unseen.job.report import summary

    global _dist
    from unseen.job.choices import settle

    wire()  # again: a launcher (submitit) may run the job in a fresh process that never ran main()
    if _dist is None:
        _dist = _single()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    settle(cfg, list(HydraConfig.get().overrides.task), say=_dist.main)
    try:
        # A single run was checked before Hydra started (precheck, in this process); a sweep's jobs here, each
        # once (a launcher may run it in a fresh process).
        metrics = run_config(cfg, group=_sweep_group(), dist=_dist, checked=not multirun).metrics
    except UserError as err:
        # One line naming the problem and the fix; no traceback for input the user can correct.
        log.error("error: %s", err)
        if multirun:  # the other jobs still run; the sweep summary marks this one and the sweep exits 2
            return None
        _forget_run_folder()
        sys.exit(EXIT_USER_ERROR)
    except BaseException as err:
        if multirun and isinstance(err, Exception):  # the summary reads the first "error: " line; then the traceback
            log.error("error: %s: %s", type(err).__name__, str(err).splitlines()[0] if str(err) else "")
            log.info("the job's traceback:", exc_info=True)
            return None
        if not multirun:
            _forget_run_folder()
        raise
    if not _dist.main:
        return None
    print(summary(metrics, cfg.output_dir), flush=True)
    # The returned value is what a Hydra sweeper would optimise: the target-domain hit rate where known.
    return get(metrics, "target_rate")


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


def _on_sigint_while_checking(signum, frame):
    """Ctrl-C before Hydra makes a folder. Inside an import it ends the process at once: a KeyboardInterrupt
    raised mid-import can be swallowed by the library being imported (torch importing numpy.linalg did), which
    then fails seconds later with a RecursionError instead of one line. Imports write nothing, so nothing is
    left behind; elsewhere the usual KeyboardInterrupt unwinds (removing the writability probes)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            print("interrupted: no results were written", file=sys.stderr, flush=True)
            os._exit(130)
        frame = frame.f_back
    raise KeyboardInterrupt


@contextmanager
def _imports_shielded():
    """While the run is checked (torch, Hydra and diffusers import): Ctrl-C as _on_sigint_while_checking says.
    Not where SIGINT is ignored (nohup, background jobs) or already handled by someone else."""
    before = signal.getsignal(signal.SIGINT)
    shield = before is signal.default_int_handler
    if shield:
        signal.signal(signal.SIGINT, _on_sigint_while_checking)
    try:
        yield
    finally:
        if shield:
            signal.signal(signal.SIGINT, before)


def _single():
    from unseen.job.distributed import SINGLE

    return SINGLE


# This process's place: distributed.SINGLE until main() joins a torchrun job. A launcher's job process
# (submitit, local or Slurm) never runs main(): it runs _job with this default, so it must be the same type
# with the same methods (barrier, broadcast, ...) the pipeline calls.
_dist = None


def main(argv: list[str] | None = None) -> None:
    """``unseen`` console script and ``python run.py`` (also under ``torchrun``: one job over N processes)."""
    if argv is not None:
        sys.argv = [sys.argv[0], *argv]
    args = sys.argv[1:]
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with _imports_shielded():
            _start(args)
        _hydra_job()()
    except KeyboardInterrupt as err:
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        if _dist is not None and _dist.active:
            what += f" (rank {_dist.rank} of {_dist.world}: a rank failed or was stopped; torchrun names it)"
        print(f"{what}: no results were written (the inversion cache keeps every finished point; the same "
              f"command resumes)", file=sys.stderr, flush=True)
        sys.exit(143 if isinstance(err, Terminated) else 130)
    finally:
        if "unseen.job.distributed" in sys.modules:
            sys.modules["unseen.job.distributed"].teardown()
    from unseen.job.sweep import last_sweep_failures

    failed = last_sweep_failures()
    if failed:
        print(f"error: {failed} job(s) of the sweep failed; summary.csv names each with its error",
              file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


def _start(args: list[str]) -> None:
    """Wire, check, and fix the output folder Hydra will use; a user error ends here in one line."""
    global _dist
    from unseen.errors import UserError
    from unseen.job import distributed
    from unseen.job.api import wire

    try:
        wire()
        _dist = distributed.setup()
        cfg = precheck(args)
        if _dist.active:
            sys.argv += _shard_overrides(args, cfg)
        elif cfg is not None:  # Hydra uses the folder precheck checked (${now:...} would tick on)
            sys.argv = [sys.argv[0], *[a for a in args if not a.startswith("hydra.run.dir=")],
                        f"hydra.run.dir='{cfg.hydra.run.dir}'"]
        if cfg is not None and _dist.main:
            _prepare_run_folder(Path(cfg.hydra.run.dir))
    except UserError as err:
        if _dist is None or _dist.main:  # under torchrun every rank checks the same input: rank 0 says it once
            print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(EXIT_USER_ERROR)


_made_run_dir: Path | None = None  # the run folder Hydra makes for this invocation, removed on a late failure


def _prepare_run_folder(run_dir: Path) -> None:
    """Remember whether Hydra will make the folder (a late failure removes it again); in an earlier run's folder
    the log starts afresh, as Hydra's record (.hydra/) does (the log is the newest run's, like the results)."""
    global _made_run_dir
    from unseen.job.output import is_run_folder

    if not run_dir.exists():
        _made_run_dir = run_dir
    elif is_run_folder(run_dir):
        (run_dir / "unseen.log").unlink(missing_ok=True)


def _forget_run_folder() -> None:
    """After a late failure of a single run: the folder Hydra made for it goes (it holds Hydra's record and the
    log only; the failed run's staging folder is already gone)."""
    from unseen.job.output import remove_if_made

    if _made_run_dir is not None:
        _close_logs_in(_made_run_dir)
        remove_if_made(_made_run_dir)


def _close_logs_in(folder: Path) -> None:
    """Hydra's file handlers that write into ``folder``: closed and detached before the folder goes."""
    inside = str(folder.absolute()) + os.sep
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for h in list(getattr(logger, "handlers", [])):
            if isinstance(h, logging.FileHandler) and h.baseFilename.startswith(inside):
                logger.removeHandler(h)
                h.close()


def _shard_overrides(args: list[str], cfg) -> list[str]:
    """Under torchrun: every rank writes to the folder rank 0 chose (``${now:...}`` may differ between ranks),
    and only rank 0 keeps Hydra's record (.hydra/, the log file) there."""
    from unseen.errors import UserError

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


def precheck(args: list[str]):
    """Raise a UserError for input that would fail later: composition, values, files, folders. Returns the
    composed config (with Hydra's part) of a single run, or None."""
    flags = [a for a in args if a.startswith("-")]
    overrides = [a for a in args if not a.startswith("-") and a not in _FLAG_VALUES]
    if any(f not in _MULTIRUN_FLAGS for f in flags):
        if any(f in ("--cfg", "-c") for f in flags):  # printing the config: the overrides must compose
            compose(overrides)
        return None  # --help, --cfg, -cn ...: Hydra's own business
    from unseen.job.choices import settle

    multirun = bool(flags)
    for variant in _variants(overrides) if multirun else [overrides]:
        cfg = settle(compose(variant), variant)
    from unseen.job.checks import preflight
    from unseen.job.output import check_output_folder, refuse_if_live

    if multirun:
        _check_can_create(cfg.hydra.sweep.dir, "the sweep folder (hydra.sweep.dir)")
        _check_sweep_folder(Path(cfg.hydra.sweep.dir).expanduser().absolute())
        return None  # values are checked per job: one bad job must not stop the others
    run_dir = str(Path(cfg.hydra.run.dir).expanduser().absolute())
    cfg.hydra.run.dir = run_dir
    _check_can_create(run_dir, "the output folder (hydra.run.dir)")
    refuse_if_live(Path(run_dir))
    check_output_folder(Path(run_dir))
    preflight(cfg, output_dir=run_dir)
    return cfg


def _check_sweep_folder(folder: Path) -> None:
    """A sweep writes into a new or empty folder: summary.csv lists every job folder it finds, so an earlier
    sweep's jobs there would be listed beside this one's."""
    from unseen.errors import UserError

    if folder.is_dir() and any(folder.iterdir()):
        kind = "an earlier sweep's jobs" if (folder / "multirun.yaml").is_file() else "files"
        raise UserError(f"the sweep folder {folder} already holds {kind}: a sweep writes into a new or empty folder "
                        f"(its summary.csv lists every job folder there); choose another hydra.sweep.dir or leave it "
                        f"to the default, unique per sweep")


def compose(overrides: list[str]):
    """The job's config as Hydra will compose it (with Hydra's part), or a ConfigError with one line."""
    from unseen.job.config import compose as compose_config

    return compose_config(overrides, hydra_part=True)


def _variants(overrides: list[str]) -> list[list[str]]:
    """For a sweep, one override list per swept value (the others at their first value): every value is
    composed once, without composing the whole product."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from unseen.errors import ConfigError
    from unseen.job.config import one_line

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


def _check_can_create(folder: str, what: str) -> None:
    """Fail now if ``folder`` could not be made: its nearest existing ancestor must be a writable folder."""
    import tempfile

    from unseen.errors import UserError

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
