"""The method end to end, one orchestrator (docs/design.md section 2): ``run(cfg)`` reads as the paper does,

    prepare (load the model and the target; experiment=auto's choice) -> invert (the K references to t_M)
    -> draw (a latent source: fit the prior, then select by geometry) -> denoise (t_M -> 0, scored as made)
    -> score -> write

on a typed ``Config`` the entry points (unseen.job.api, unseen.job.cli) composed, checked and converted; nothing here
reads config text. Results are staged inside the output folder and published only once every stage has
succeeded (unseen.job.output), so a failed run leaves no half-written metrics or samples behind.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from unseen.data import Target
from unseen.errors import UserError
from unseen.evaluation import scoring
from unseen.evaluation.scorer import SampleScores
from unseen.job import stages as st
from unseen.job.auto import choose_config
from unseen.job.auto import cost as auto_cost
from unseen.job.auto import plan as auto_plan
from unseen.job.distributed import SINGLE, Dist
from unseen.job.latents import LatentFile
from unseen.job.output import STAGING, disk_error, make_staging, publish, write
from unseen.job.provenance import provenance
from unseen.method import ddim
from unseen.method.sources import DrawContext, Drawn, source
from unseen.models.autoencoder import Autoencoder
from unseen.specs import Config, draw_spec
from unseen.timing import Stopwatch

log = logging.getLogger("unseen")


def run(cfg: Config, candidates: dict[str, Config] | None = None, group: str | None = None,
        dist: Dist = SINGLE) -> dict:
    """Run one job; returns the metrics written to metrics.json. ``candidates``: experiment=auto's candidate
    sources as whole configs (unseen.job.config.candidate_specs); ``group`` names a sweep for the logger.

    Under torchrun (``dist``) every rank calls it: rank 0 owns the output folder, evaluates and writes;
    the others return {} once their share of the UNet work is gathered.
    """
    out = Path(cfg.output_dir)
    staging = make_staging(out) if dist.main else out / STAGING
    dist.barrier()
    try:
        metrics, diagnostics = _run(cfg, candidates or {}, staging, dist)
        if dist.main:
            publish(out, staging)
    except BaseException as err:
        if dist.main:
            shutil.rmtree(staging, ignore_errors=True)
        if isinstance(err, OSError) and disk_error(err, out) is not None:
            raise disk_error(err, out) from err
        raise
    if dist.main:
        from unseen.job.tracking import log_run

        log_run(cfg, metrics, out, diagnostics, group)
    return metrics


@dataclass
class _Job:
    """What the stages share within one run."""

    cfg: Config  # the finished config (after experiment=auto's choice)
    loaded: st.Loaded
    target: Target
    scorers: scoring.Scorers
    grids: st.Grids
    stages: Stopwatch
    dist: Dist
    x0: torch.Tensor | None = None  # the references in the model's space (a latent model's: encoded)
    auto_section: dict | None = None  # metrics.json's ``auto``: what experiment=auto scored and chose


def _run(cfg: Config, candidates: dict[str, Config], staging: Path, dist: Dist) -> tuple[dict, dict]:
    job = _prepare(cfg, candidates, dist)
    metrics = _header(job)
    ref_latents, recon = _invert(job, metrics)
    drawn, grid, found = _draw(job, ref_latents, staging, metrics)
    scores = _denoise(job, grid, drawn, staging)
    if not dist.main:
        drawn.close()
        drawn.path.unlink(missing_ok=True)
        return {}, {}
    _score(job, scores, metrics)
    write(job.cfg, staging, job.target.images, scores.first, recon, ref_latents, drawn, metrics, job.target.split(),
          job.target.ref_groups)
    return metrics, found.diagnostics


def _prepare(cfg: Config, candidates: dict[str, Config], dist: Dist) -> _Job:
    """The model, the target and the scorers; with experiment=auto, the config it chooses."""
    stages = Stopwatch()
    torch.manual_seed(cfg.seed)
    with stages.stage("load_model"):
        loaded = st.load(cfg, dist)
    with stages.stage("load_target"):
        target = st.load_target(cfg, loaded.model.resolution)
    scorers = scoring.scorers(cfg.eval, target, loaded.model, loaded.device)  # a wrong choice fails in seconds
    with stages.stage("encode"):
        x0 = loaded.model.space.encode(target.images)
    section = None
    if cfg.auto.enabled and not source(cfg.sampler.source).mixes:  # the model's own samples: no t_M to choose
        log.info("auto: skipped, sampler.source=%s does not use t_M", cfg.sampler.source)
    elif cfg.auto.enabled:
        if dist.active:
            raise UserError("experiment=auto runs in one process: drop torchrun, or fix the choice it made "
                            "(metrics.json's auto.chosen) and shard that run")
        log.info("%s", auto_plan(cfg, len(target.images)))
        with stages.stage("auto", loaded.predictor):
            cfg, section = choose_config(cfg, candidates, loaded.predictor, loaded.model, target.images, x0,
                                         target.ref_groups)
    return _Job(cfg, loaded, target, scorers, st.grids(cfg), stages, dist, x0, section)


def _header(job: _Job) -> dict:
    cfg, model = job.cfg, job.loaded.model
    choice = {"choice": {"by": cfg.auto.by, "note": cfg.auto.note}} if cfg.auto.by or cfg.auto.note else {}
    header = {**choice, "model": model.pretrained, "model_identity": model.identity, "target": job.target.name,
              "num_references": len(job.target.images), "t_M": cfg.mixing.t_M, "inversion_steps": job.grids.steps,
              "generation_steps": len(job.grids.generation), "source": cfg.sampler.source, "seed": cfg.seed,
              "device": str(job.loaded.device), "model_kind": model.kind,
              **({"condition": model.conditioning.description, "guidance": cfg.sampler.guidance}
                 if model.conditioning is not None else {})}
    return header if job.auto_section is None else {**header, "auto": job.auto_section}


def _invert(job: _Job, metrics: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The references' latents at t_M (none for a source that does not invert), and the first few denoised back
    from them (the reconstruction PSNR; rank 0 only)."""
    if not source(job.cfg.sampler.source).inverts:
        return torch.empty(0, *job.x0.shape[1:]), None
    with job.stages.stage("invert", job.loaded.predictor):
        ref_latents, metrics["inversion"] = st.invert(job.cfg, job.loaded, job.x0, job.grids, job.dist)
    if job.cfg.mixing.reconstruct <= 0 or not job.dist.main:
        return ref_latents, None
    with job.stages.stage("reconstruct", job.loaded.predictor):
        recon, metrics["reconstruction_psnr"] = st.reconstruct(job.cfg, job.loaded, job.target.images, ref_latents,
                                                               job.grids)
    return ref_latents, recon


def _draw(job: _Job, ref_latents: torch.Tensor, staging: Path, metrics: dict) -> tuple[LatentFile, list[int], Drawn]:
    """The latents at t_M from the run's source (the prior's: fit, then select by geometry), written to disk as
    they are made (unseen.job.latents: rank 0 keeps all of them, they are saved; another rank the run of whole chunks
    it denoises), and the grid they are denoised on."""
    cfg, dist, src = job.cfg, job.dist, source(job.cfg.sampler.source)
    mine = dist.my_chunks(cfg.sampler.count, cfg.sampler.batch_size)
    drawn = LatentFile(staging / f".latents-{dist.rank}.f32", tuple(job.x0.shape[1:]), 0 if dist.main else mine.start)
    sink = drawn.append if dist.main else st.RangeSink(drawn, mine.start, mine.stop)
    alpha = job.loaded.predictor.alpha_bar(cfg.mixing.t_M).cpu()
    ctx = DrawContext(draw_spec(cfg), job.x0, ref_latents if src.inverts else None, alpha, job.stages.stage)
    found: Drawn = src.draw(ctx, cfg.sampler.count, sink)
    metrics.update(found.metrics)
    grid = src.grid(job.grids.generation, job.loaded.predictor.num_train_timesteps)
    if found.signal_scale < 1:
        grid = ddim.matched_grid(grid, job.loaded.predictor.alphas_cumprod, cfg.mixing.t_M, found.signal_scale)
        metrics["match_noise"] = {"signal_scale": found.signal_scale, "start_t": grid[-1]}
        metrics["generation_steps"] = len(grid)
    return drawn, grid, found


def _denoise(job: _Job, grid: list[int], drawn: LatentFile, staging: Path) -> SampleScores:
    """The drawn latents denoised from t_M to 0 (this rank's share), each sample scored as it is made."""
    cfg = job.cfg
    log.info("generating %d samples from %s latents", cfg.sampler.count, cfg.sampler.source)
    scores = SampleScores(job.target.images, job.scorers.net, job.target.scorer,
                          keep=max(64, cfg.eval.pixel_samples), unet_net=job.scorers.unet,
                          clusters=scoring.clusters(cfg, job.target, job.scorers))
    predictor, mine = job.loaded.predictor, job.dist.my_chunks(cfg.sampler.count, cfg.sampler.batch_size)
    with job.stages.stage("generate", predictor), predictor.guiding(cfg.sampler.guidance):
        scores = st.denoise(cfg, predictor, drawn, mine, grid, staging / "samples", job.dist, scores,
                            job.loaded.model.space)
    if job.dist.active:  # rank 0 reports the UNet work of every rank
        counts = job.dist.gather(job.stages.unet_evaluations)
        if job.dist.main:
            job.stages.unet_evaluations = {k: sum(c.get(k, 0) for c in counts) for k in counts[0]}
    return scores


def _score(job: _Job, scores: SampleScores, metrics: dict) -> None:
    """The scores (FID/KID, diversity, memorisation, redraws, goals), the provenance and the costs, into
    ``metrics``."""
    if job.dist.active:
        metrics["world_size"] = job.dist.world
    metrics["samples"] = {"count": scores.count}
    with job.stages.stage("evaluate"):
        metrics.update(scoring.score(job.cfg, scores, job.target, job.scorers))
    metrics["provenance"] = provenance(job.loaded.device, job.loaded.model.identity, job.loaded.location)
    metrics["seconds"] = job.stages.seconds
    metrics["unet_evaluations"] = job.stages.unet_evaluations
    if job.auto_section is not None:
        inverts = source(job.cfg.sampler.source).inverts  # the chosen source's own inversion, if it has one
        job.auto_section["cost"] = auto_cost(job.auto_section, job.stages.unet_evaluations,
                                             len(job.target.images), job.grids.steps if inverts else 0)
    space = job.loaded.model.space
    if isinstance(space, Autoencoder):  # a latent model: its autoencoder's work beside the UNet's
        metrics["autoencoder_evaluations"] = {"encoder": space.encoder_evaluations,
                                              "decoder": space.decoder_evaluations}
    metrics["total_seconds"] = round(sum(job.stages.seconds.values()), 3)
