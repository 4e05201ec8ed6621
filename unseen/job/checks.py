"""``preflight``: every check that needs no model, run before any work and before any folder is made. Each
group's checks live beside their owner (method.ddim: mixing, method.prior, method.geometry, method.sources: sampler,
data: target, models.loading: model and device, evaluation.features and fewshot: eval, job.auto); this module only
collects them, on the composed config, before the entry layer turns it into the typed specs."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from unseen import data
from unseen.errors import UserError
from unseen.evaluation import features, fewshot
from unseen.job import auto
from unseen.job.config import unknown_keys, with_overrides
from unseen.method import ddim, geometry, prior, sources
from unseen.models import loading

log = logging.getLogger("unseen")


def validate(cfg: DictConfig) -> None:
    """The config's values: every group's own checks, and (experiment=auto) every candidate as a run of its own,
    with the references auto fits on."""
    unknown = unknown_keys(cfg)
    if unknown:
        raise UserError(f"unknown config key(s) {', '.join(unknown)}: check the spelling; `python run.py --cfg job` "
                        f"prints every key")
    if cfg.logger.name not in ("none", "wandb") or cfg.logger.mode not in ("offline", "online", "disabled"):
        raise UserError(f"logger.name must be none or wandb and logger.mode offline, online or disabled, got "
                        f"{cfg.logger.name!r} and {cfg.logger.mode!r}")
    if OmegaConf.is_missing(cfg.model, "checkpoint"):  # a model group that needs a file names where it is published
        mc = cfg.model
        raise UserError(f"model={mc.name} loads a checkpoint file: set model.checkpoint=/path/to/it "
                        f"({mc.published or 'see the model config for where it is published'})")
    loading.check(cfg.model)
    ddim.check_mixing(cfg.mixing)
    prior.check(cfg.prior)
    geometry.check(cfg.geometry)
    data.check(cfg.target)
    data.check_held_out(cfg.target.num_eval, scoring=cfg.eval.feature != "none")
    sources.check(cfg)
    if not 0 <= cfg.seed < 2**63:
        raise UserError(f"seed must be in [0, 2**63), got {cfg.seed}")
    if cfg.cache_keep is not None and cfg.cache_keep < 1:
        raise UserError(f"cache_keep must be >= 1 (keep the multiples of it) or null (automatic), got {cfg.cache_keep}")
    if cfg.cache_max_gb is not None and not cfg.cache_max_gb > 0:
        raise UserError(f"cache_max_gb must be > 0 or null, got {cfg.cache_max_gb}")
    if cfg.auto.enabled:
        auto.check(cfg)
        _check_candidates(cfg)


def _check_candidates(cfg: DictConfig) -> None:
    """Every auto candidate as a run of its own at every t_M: as the finished run it may become (all K references,
    your sampler.count), which must be valid, and as auto scores it (on the references auto fits on, auto.count
    samples). One that needs more references than auto fits on (the preset's pca prior at 10 shots) is skipped,
    with a warning: the choice scores it as unable to run. Checked here, the configs auto varies (unseen.specs'
    ``varied``) are valid by construction."""
    k, skipped = cfg.target.num_references, {}
    fitting, _ = auto.split_sizes(k, cfg.auto.holdout)
    for name, overrides in cfg.auto.candidates.items():
        for t in sorted(cfg.auto.t_M):
            finished = with_overrides(cfg, [*overrides, "auto.enabled=false", f"mixing.t_M={t}"])
            try:
                validate(finished)
            except UserError as err:
                raise UserError(f"auto.candidates.{name}: {err} (as the run auto may choose: at t_M {t})") from err
            try:
                validate(with_overrides(finished, [f"target.num_references={fitting}",
                                                   f"sampler.count={cfg.auto.count}"]))
            except UserError as err:
                skipped[name] = (f"auto.candidates.{name}: {err} (as auto runs it: at t_M {t}, fitting on {fitting} "
                                 f"of your {k} references, the rest validate)")
    if len(skipped) == len(cfg.auto.candidates):
        raise UserError(next(iter(skipped.values())) + "; no candidate can run: add references")
    for message in skipped.values():
        log.warning("%s: skipped", message)


def preflight(cfg: DictConfig, output_dir: str | None = None) -> None:
    """``validate``, and what the run reads or writes outside the model: the device, the feature network's
    weights, the cache folder, the target folder's images (``output_dir``: where the results will go, when
    ``cfg.output_dir`` is not resolved yet)."""
    validate(cfg)
    loading.resolve_device(cfg.device)
    loading.check_files(cfg.model, cfg.sampler.guidance)
    features.check(cfg.eval)
    fewshot.check_lpips(cfg.eval)
    loading.check_timesteps(cfg.model, max([cfg.mixing.t_M, *(cfg.auto.t_M if cfg.auto.enabled else [])]))
    if cfg.cache_dir:
        import os

        from unseen.job.output import writable_dir

        from_env = os.environ.get("UNSEEN_CACHE") == str(cfg.cache_dir) and "cache_dir" not in cfg.user_set
        what = "the cache folder cache_dir" + (" (set by $UNSEEN_CACHE)" if from_env else "")
        writable_dir(Path(cfg.cache_dir), what)
    out = output_dir or OmegaConf.select(cfg, "output_dir", throw_on_resolution_failure=False)
    num_eval = cfg.target.num_eval if cfg.eval.feature != "none" else 0
    data.check_places(cfg.target, out)
    data.check_files(cfg.target, num_eval, [p for p in (out, cfg.cache_dir) if p], cfg.cache_dir)
    if out:
        check_room(cfg, Path(out))


def check_room(cfg: DictConfig, out: Path) -> None:
    """The output folder's disk has room for what the run writes (where the model's size is known before it
    loads): each sample's latent twice (the staging file, latents.safetensors) and its PNG (at most raw size),
    and the references' latents."""
    import shutil

    size = loading.resolution(cfg.model)
    if size is None:
        return
    image = 3 * size * size
    latents = 2 * 4 * image if cfg.save_latents else 4 * image  # the staging file is written either way
    need = cfg.sampler.count * (latents + image) + cfg.target.num_references * 4 * image
    where = out.expanduser().absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < need:
        raise UserError(f"the disk of the output folder {out} has {free / 1e9:.2f} GB free and the run writes about "
                        f"{need / 1e9:.2f} GB ({cfg.sampler.count} samples of {size} px, their latents and PNGs): free "
                        f"space, choose another hydra.run.dir, lower sampler.count or set save_latents=false")
