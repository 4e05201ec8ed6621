"""The method end to end, one plain function per stage (docs/design.md section 2):

    load_model -> load_target -> invert -> fit_prior / geometry_targets
               -> draw -> select (geometry) -> generate -> evaluate -> write

``run(cfg)`` composes them. Results are written to a hidden staging folder inside the output
directory and moved into place only once every stage has succeeded, so a failed run leaves no
half-written metrics or samples behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from unseen import ddim
from unseen.cache import invert_cached, inversion_key
from unseen.data import load_target
from unseen.distributed import SINGLE, Dist, local_device
from unseen.errors import UserError
from unseen.images import image_grid, psnr, to_uint8
from unseen.latents import LatentFile, save_streamed
from unseen.geometry import CRITERIA, MODES, geometry_targets
from unseen.models import checkpoint_folder, load_model, resolve_device
from unseen.prior import VARIANCES, fit_prior
from unseen.sources import (SOURCES, batch_generator, noise_latents, paper_candidates, replay_latents,
                            select_prior_draws, slerp_latents)

log = logging.getLogger("unseen")


@dataclass
class Stages:
    """Wall time and UNet evaluations (images through the UNet) per stage."""

    seconds: dict[str, float] = field(default_factory=dict)
    unet_evaluations: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, predictor: ddim.NoisePredictor | None = None):
        start, evals = time.perf_counter(), predictor.evaluations if predictor else 0
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        if predictor is not None:
            self.unet_evaluations[name] = predictor.evaluations - evals


def validate(cfg: DictConfig) -> None:
    """Every check that needs no model or data, so a bad config fails before any work is done."""
    m, g, s, p = cfg.mixing, cfg.geometry, cfg.sampler, cfg.prior
    mc = cfg.model
    if OmegaConf.is_missing(mc, "checkpoint"):
        raise UserError(f"model={mc.name} loads a checkpoint file: set model.checkpoint=/path/to/it "
                        f"({mc.published or 'see the model config for where it is published'})")
    if (mc.source is None) == (mc.checkpoint is None):
        raise UserError("set exactly one of model.source (a diffusers folder, hub id or builtin:NAME) and "
                        "model.checkpoint (a raw checkpoint file)")
    if mc.checkpoint is not None and not Path(mc.checkpoint).expanduser().is_file():
        raise UserError(f"model.checkpoint {mc.checkpoint} does not exist: check the path"
                        + (f" ({mc.published})" if mc.published else ""))
    if m.reconstruct < 0:
        raise UserError(f"mixing.reconstruct must be >= 0, got {m.reconstruct}")
    if not 1 <= m.t_M:
        raise UserError(f"mixing.t_M must be in [1, T-1], got {m.t_M}")
    if m.steps is not None:
        if not 1 <= m.steps <= m.t_M:
            raise UserError(f"mixing.steps = {m.steps} must be in [1, t_M = {m.t_M}]: use at most t_M steps")
    elif m.stride is None or m.stride < 1 or m.t_M % m.stride:
        raise UserError(f"mixing.t_M = {m.t_M} must be a positive multiple of mixing.stride = {m.stride} "
                        f"(or set mixing.steps for a linspace grid)")
    steps = m.steps or m.t_M // m.stride
    if m.generate_steps is not None and (not 1 <= m.generate_steps <= steps or steps % m.generate_steps):
        raise UserError(f"mixing.generate_steps = {m.generate_steps} must divide the {steps} inversion steps, "
                        f"so the generation grid is a sub-grid of the inversion grid")
    if p.variance not in VARIANCES:
        raise UserError(f"prior.variance must be one of {', '.join(VARIANCES)}, got {p.variance!r}")
    if p.variance == "pca" and p.components < 1:
        raise UserError(f"prior.components must be >= 1, got {p.components}")
    if p.bandwidth < 0 or not 0 <= p.max_shift <= 0.5:
        raise UserError(f"prior.bandwidth must be >= 0 and prior.max_shift in [0, 0.5], got {p.bandwidth} and "
                        f"{p.max_shift}")
    from unseen.symmetry import SYMMETRIES

    if any(name not in SYMMETRIES for name in p.symmetries):
        raise UserError(f"prior.symmetries must be a subset of {list(SYMMETRIES)}, got {list(p.symmetries)}")
    if g.mode not in MODES:
        raise UserError(f"geometry.mode must be one of {', '.join(MODES)}, got {g.mode!r}")
    if not g.bandwidth > 0:
        raise UserError(f"geometry.bandwidth must be > 0 (in units of the references' spread), got {g.bandwidth}")
    unknown = [c for c in g.criteria if c not in CRITERIA]
    if unknown or not g.criteria:
        raise UserError(f"geometry.criteria must be a non-empty subset of {list(CRITERIA)}, got {list(g.criteria)}")
    if g.candidate_batch < 1 or g.max_candidates < 1:
        raise UserError("geometry.candidate_batch and geometry.max_candidates must be >= 1")
    if g.steps < 0 or not g.step_size > 0 or not 0 < g.margin <= 1:
        raise UserError(f"geometry.steps must be >= 0, geometry.step_size > 0 and geometry.margin in (0, 1], got "
                        f"{g.steps}, {g.step_size} and {g.margin}")
    if s.source not in SOURCES:
        raise UserError(f"sampler.source must be one of {', '.join(SOURCES)}, got {s.source!r}")
    if s.count < 1:
        raise UserError(f"sampler.count must be >= 1, got {s.count}")
    if s.eta < 0 or s.paper_points < 1:
        raise UserError(f"sampler.eta must be >= 0 and sampler.paper_points >= 1, got {s.eta} and {s.paper_points}")
    if s.batch_size < 1 or cfg.model.batch_size < 1:
        raise UserError(f"sampler.batch_size and model.batch_size must be >= 1, got {s.batch_size} and "
                        f"{cfg.model.batch_size}")
    k = cfg.target.num_references
    if k < 1:
        raise UserError(f"target.num_references must be >= 1, got {k}")
    if s.source == "slerp" and k < 2:
        raise UserError(f"sampler=slerp interpolates between two references, but target.num_references = {k}: "
                        f"use at least 2 references")
    if s.source in ("prior", "paper"):
        need = p.components + 1 if p.variance == "pca" else 2
        if k < need:
            fix = f"add references or lower prior.components (now {p.components})" if p.variance == "pca" else \
                "add references"
            raise UserError(f"the {p.variance!r} prior needs at least {need} references, got target.num_references "
                            f"= {k}: {fix}")
        if g.mode in ("reject", "optimize") and k <= g.subset_size:
            raise UserError(f"geometry={g.mode} scores each reference against subset_size = {g.subset_size} others, "
                            f"so it needs more than {g.subset_size} references, got {k}: add references or lower "
                            f"geometry.subset_size")
    if cfg.target.num_eval < 0:
        raise UserError(f"target.num_eval must be >= 0, got {cfg.target.num_eval}")
    if cfg.auto.enabled:
        from unseen import auto

        auto.validate(cfg)
        for name, overrides in cfg.auto.candidates.items():  # every candidate is a valid run of its own
            try:
                validate(auto.apply(cfg, [*overrides, "auto.enabled=false", f"mixing.t_M={max(cfg.auto.t_M)}",
                                          f"target.num_references={cfg.target.num_references - 2}"]))
            except UserError as err:
                raise UserError(f"auto.candidates.{name}: {err}") from err


def preflight(cfg: DictConfig) -> None:
    """``validate`` and every check of files and folders that needs no model: run before any work."""
    from unseen import evaluate as ev

    validate(cfg)
    e = cfg.eval
    if e.feature != "none" and e.feature not in ev.feature_names():
        raise UserError(f"eval.feature must be one of {', '.join(ev.feature_names())} or none, got {e.feature!r}")
    if e.feature == "inception":
        ev.inception_weights(e.inception_weights)
    if cfg.cache_keep is not None and cfg.cache_keep < 1:
        raise UserError(f"cache_keep must be >= 1 (keep the multiples of it) or null (automatic), got {cfg.cache_keep}")
    if cfg.cache_dir:
        writable_dir(Path(cfg.cache_dir), "the cache folder cache_dir (set by $UNSEEN_CACHE)")


AUTO_KEEP = 100  # cache_keep=null above 64 px: keep the multiples of 100


def cache_keep(cfg: DictConfig, resolution: int) -> int | None:
    """The inversion points to keep on disk: ``cache_keep``, or automatic (every point up to 64 px)."""
    if cfg.cache_keep is not None:
        return None if cfg.cache_keep == 1 else cfg.cache_keep
    return None if resolution <= 64 else AUTO_KEEP


def writable_dir(folder: Path, what: str) -> Path:
    """Make ``folder`` (and its parents) and prove it takes a file, or say which setting to change."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write {what} {folder} ({err.strerror or err}): point it to a writable folder") \
            from err
    return folder


STAGING = ".partial"  # results are written here and moved into the output folder when the run succeeds


def _make_staging(out: Path) -> Path:
    """Make the output folder and its staging folder now, so an unwritable place fails before the work.

    The staging folder records its owner (host, pid). A run killed by SIGKILL cannot remove it; the
    next run in the same parent folder (the day's outputs, or the sweep) removes stale ones of this host.
    """
    staging = writable_dir(out, "the output directory (output_dir or hydra.run.dir)") / STAGING
    for old in [staging, *out.parent.glob(f"*/{STAGING}")]:
        if old == staging or _stale(old):
            shutil.rmtree(old, ignore_errors=True)
    try:
        (staging / "samples").mkdir(parents=True)
        (staging / "owner").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    except OSError as err:
        raise UserError(f"cannot write the output directory {out} ({err.strerror or err}): choose a writable "
                        f"output_dir (or hydra.run.dir)") from err
    return staging


def _stale(staging: Path) -> bool:
    """A staging folder whose owner was a process of this host that no longer runs."""
    try:
        host, pid = (staging / "owner").read_text().split()
        if host != socket.gethostname():
            return False
        os.kill(int(pid), 0)
        return False
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False


DRAW_CHUNK = 256  # latents made at once by the replay / slerp / id sources


def draw_latents(cfg: DictConfig, ref_latents: torch.Tensor, stages: Stages, metrics: dict, sink) -> dict:
    """The latents at t_M to denoise, flattened (count, D), handed to ``sink`` in order as float32 chunks (the
    precision latents.safetensors keeps: replaying the saved latents gives the samples exactly). Returns the
    geometry diagnostics."""
    s, g, seed = cfg.sampler, cfg.geometry, cfg.seed
    diagnostics = {}
    if s.source == "replay":
        for i in range(0, s.count, DRAW_CHUNK):
            sink(replay_latents(ref_latents, min(DRAW_CHUNK, s.count - i), start=i).float())
        return diagnostics
    if s.source == "slerp":
        for part in slerp_latents(ref_latents, s.count, seed, chunk=DRAW_CHUNK):
            sink(part.float())
        return diagnostics
    with stages.stage("fit_prior"):
        try:
            p = cfg.prior
            prior = fit_prior(ref_latents, p.variance, p.components, p.floor, p.truncate, p.bandwidth,
                              list(p.symmetries), p.max_shift)
        except ValueError as err:
            raise UserError(str(err)) from err
    metrics["prior"] = prior.stats()
    with stages.stage("geometry"):
        k = len(ref_latents)
        # With mode none the targets are diagnostics only, so a small K scores against fewer references.
        filtering = g.mode in ("reject", "optimize")
        m = g.subset_size if filtering else min(g.subset_size, k - 1)
        targets = None
        if filtering or m >= 2:
            try:
                targets = geometry_targets(ref_latents, m, batch_generator(seed, "geometry", 0))
            except ValueError as err:
                raise UserError(str(err)) from err
        propose = paper_candidates(prior, ref_latents, s.paper_points) if s.source == "paper" else None
        selection = select_prior_draws(prior, ref_latents, targets, s.count, mode=g.mode, bandwidth=g.bandwidth,
                                       enabled=tuple(g.criteria), subset_size=m, candidate_batch=g.candidate_batch,
                                       max_candidates=g.max_candidates, seed=seed, sink=sink,
                                       optimize=dict(steps=g.steps, step_size=g.step_size, margin=g.margin),
                                       propose=propose)
    metrics["geometry"] = {
        "mode": g.mode, "bandwidth": g.bandwidth, "criteria": list(g.criteria),
        "candidates": selection.candidates, "accepted": selection.accepted,
        "acceptance_rate": selection.acceptance_rate,
        "targets": targets.as_dict() if targets else None,
        "draws": {c: {"mean": float(v.mean()), "std": float(v.std())} for c, v in selection.values.items()},
    }
    if selection.moved is not None:  # how far optimize moved the kept draws, in units of their nearest reference
        metrics["geometry"]["moved_over_nearest"] = {"median": float(selection.moved.median()),
                                                     "mean": float(selection.moved.mean()),
                                                     "max": float(selection.moved.max())}
    diagnostics.update(reference=targets.reference_values if targets else {}, draws=selection.values,
                       accepted=selection.accepted_values)
    return diagnostics


def run(cfg: DictConfig, group: str | None = None, dist: Dist = SINGLE) -> dict:
    """Run one job; returns the metrics written to metrics.json. ``group`` names a sweep for the logger.

    Under torchrun (``dist``) every rank calls it: rank 0 owns the output folder, evaluates and writes;
    the others return {} once their share of the UNet work is gathered.
    """
    preflight(cfg)
    out = Path(cfg.output_dir)
    staging = _make_staging(out) if dist.main else out / STAGING
    dist.barrier()
    try:
        metrics, diagnostics = _run(cfg, out, staging, dist)
    except BaseException:
        if dist.main:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    if dist.main:
        from unseen.tracking import log_run

        log_run(cfg, metrics, out, diagnostics, group)
    return metrics


def _load(cfg: DictConfig, device: torch.device, dist: Dist):
    """The model, and the folder it came from (a raw checkpoint is converted once: by rank 0, first)."""
    mc = cfg.model
    source = mc.source
    if mc.checkpoint is not None:
        for turn in ("main", "others"):
            if (turn == "main") == dist.main:
                source = str(checkpoint_folder(mc.checkpoint, mc.checkpoint_kind, mc.image_size, mc.num_head_channels,
                                               cfg.cache_dir))
            dist.barrier()
    model = load_model(source, mc.subfolder, mc.scheduler_subfolder, mc.revision, device, mc.precision)
    if mc.channels_last:
        model.unet.to(memory_format=torch.channels_last)
    if mc.compile:
        model.unet = torch.compile(model.unet)  # attributes (config, dtype, mid_block) pass through to the model
    return model, source


def _run(cfg: DictConfig, out: Path, staging: Path, dist: Dist) -> tuple[dict, dict]:
    stages = Stages()
    device = resolve_device(local_device(cfg.device))
    torch.manual_seed(cfg.seed)
    with stages.stage("load_model"):
        mc = cfg.model
        model, source = _load(cfg, device, dist)
    T = len(model.alphas_cumprod)
    if cfg.mixing.t_M > T - 1:
        raise UserError(f"mixing.t_M must be in [1, T-1 = {T - 1}] for this model, got {cfg.mixing.t_M}")
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, mc.batch_size, model_dtype=model.unet.dtype,
                                    prediction_type=model.prediction_type)
    with stages.stage("load_target"):
        t = cfg.target
        num_eval = t.num_eval if cfg.eval.feature != "none" else 0
        target = load_target(t.kind, t.num_references, model.resolution, name=t.name, domain=t.domain, path=t.path,
                             seed=t.seed, num_eval=num_eval, eval_path=t.eval_path)
    refs = target.images
    net = _feature_network(cfg, target, model, device)  # before the work: a wrong choice fails in seconds
    unet_net = None
    if cfg.eval.unet_memorisation:
        from unseen import evaluate as ev

        unet_net = net if cfg.eval.feature == "unet" else ev.feature_network("unet", device, unet=model.unet,
                                                                              model_identity=model.identity)
    mx = cfg.mixing
    if mx.steps:
        grid, grid_spec = ddim.time_grid(mx.t_M, mx.steps), f"linspace:{mx.t_M}:{mx.steps}"
    else:
        grid, grid_spec = ddim.stride_grid(mx.t_M, mx.stride), f"stride:{mx.stride}"
    steps = len(grid) - 1
    gen_grid = grid if mx.generate_steps is None else grid[:: steps // mx.generate_steps]
    metrics: dict = {"model": model.source, "model_identity": model.identity, "target": target.name,
                     "num_references": len(refs), "t_M": cfg.mixing.t_M, "inversion_steps": steps,
                     "generation_steps": len(gen_grid), "source": cfg.sampler.source, "seed": cfg.seed,
                     "device": str(device)}

    if cfg.auto.enabled:
        if dist.active:
            raise UserError("experiment=auto runs in one process: drop torchrun, or fix the choice it made "
                            "(metrics.json's auto.chosen) and shard that run")
        with stages.stage("auto", predictor):
            cfg, metrics["auto"] = _auto(cfg, predictor, refs, model, device)
        grid = ddim.stride_grid(cfg.mixing.t_M, mx.stride)
        gen_grid, steps = grid, len(grid) - 1
        metrics.update(t_M=cfg.mixing.t_M, inversion_steps=steps, generation_steps=len(gen_grid),
                       source=cfg.sampler.source)
    own_prior = cfg.sampler.source == "id"  # the model's own samples need no inversion
    sdedit = cfg.sampler.source == "sdedit"  # nor does SDEdit: the references are noised forward, stochastically
    if not own_prior and not sdedit:
        log.info("inverting %d references to t_M = %d in %d steps", len(refs), mx.t_M, steps)
        with stages.stage("invert", predictor):
            key = inversion_key(model.identity, refs, grid_spec, device.type, _arithmetic(mc))
            max_bytes = int(cfg.cache_max_gb * 1e9) if cfg.cache_max_gb else None
            ref_latents, metrics["inversion"] = invert_cached(predictor, refs, grid, cfg.cache_dir, key,
                                                              cfg.progress, cache_keep(cfg, model.resolution),
                                                              max_bytes, dist)
    recon = None
    if cfg.mixing.reconstruct > 0 and not own_prior and not sdedit and dist.main:
        n = min(cfg.mixing.reconstruct, len(refs))
        with stages.stage("reconstruct", predictor):
            recon = ddim.generate(predictor, ref_latents[:n], grid, progress=cfg.progress)
        rec_psnr = psnr(recon, refs[:n])
        metrics["reconstruction_psnr"] = {"mean": float(rec_psnr.mean()), "min": float(rec_psnr.min()), "count": n}

    # The drawn latents go to disk as they are made (unseen.latents): rank 0 keeps all of them (they are saved),
    # the other ranks the run of whole chunks they denoise.
    mine = dist.my_chunks(cfg.sampler.count, cfg.sampler.batch_size)
    drawn = LatentFile(staging / f".latents-{dist.rank}.f32", tuple(refs.shape[1:]), 0 if dist.main else mine.start)
    sink = drawn.append if dist.main else _RangeSink(drawn, mine.start, mine.stop)
    if own_prior:  # pure noise at T - 1, denoised with as many steps as the generation grid has
        for part in noise_latents(cfg.sampler.count, refs[0].numel(), cfg.seed, chunk=DRAW_CHUNK):
            sink(part.float())
        sample_grid = ddim.time_grid(T - 1, len(gen_grid) - 1)
        ref_latents, diagnostics = torch.empty(0, *refs.shape[1:]), {}
    elif sdedit:  # x_tM = sqrt(ab) x0 + sqrt(1 - ab) e for the references in turn (Meng et al.'s SDEdit)
        ab = predictor.alpha_bar(cfg.mixing.t_M).cpu()
        g = batch_generator(cfg.seed, "sdedit", 0)
        for i in range(0, cfg.sampler.count, DRAW_CHUNK):
            x0 = replay_latents(refs, min(DRAW_CHUNK, cfg.sampler.count - i), start=i)
            sink((ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, generator=g, dtype=torch.float64)).float())
        ref_latents, diagnostics, sample_grid = torch.empty(0, *refs.shape[1:]), {}, gen_grid
    else:
        diagnostics = draw_latents(cfg, ref_latents, stages, metrics, sink)
        sample_grid = gen_grid
    log.info("generating %d samples from %s latents", cfg.sampler.count, cfg.sampler.source)
    with stages.stage("generate", predictor):
        from unseen.evaluate import SampleScores

        scores = _generate(cfg, predictor, drawn, mine, sample_grid, staging / "samples", dist,
                           SampleScores(refs, net, target.scorer, keep=max(64, cfg.eval.pixel_samples),
                                        unet_net=unet_net))
    if dist.active:  # rank 0 reports the UNet work of every rank
        counts = dist.gather(stages.unet_evaluations)
        if not dist.main:
            drawn.close()
            drawn.path.unlink(missing_ok=True)
            return {}, {}
        stages.unet_evaluations = {k: sum(c.get(k, 0) for c in counts) for k in counts[0]}
        metrics["world_size"] = dist.world
    metrics["samples"] = {"count": scores.count}
    with stages.stage("evaluate"):
        metrics.update(evaluate(cfg, scores, target, net, unet_net))
    from unseen.provenance import provenance

    metrics["provenance"] = provenance(device, model.identity, source)
    metrics["seconds"] = stages.seconds
    metrics["unet_evaluations"] = stages.unet_evaluations
    metrics["total_seconds"] = round(sum(stages.seconds.values()), 3)
    (staging / "split.json").write_text(json.dumps({"references": target.ids, "held_out": target.eval_ids}) + "\n")
    _write(cfg, out, staging, refs, scores.first, recon, ref_latents, drawn, metrics)
    return metrics, diagnostics


def _arithmetic(mc) -> str:
    """What changes the UNet's arithmetic order, for the inversion cache's key."""
    return mc.precision + ("-channels_last" if mc.channels_last else "") + ("-compiled" if mc.compile else "")


def _auto(cfg: DictConfig, predictor: ddim.NoisePredictor, refs: torch.Tensor, model, device: torch.device
          ) -> tuple[DictConfig, dict]:
    """experiment=auto (unseen.auto): the config with the chosen t_M and source, and the ``auto`` section."""
    from unseen import auto
    from unseen import evaluate as ev

    mc, stride, wanted = cfg.model, cfg.mixing.stride, sorted(cfg.auto.t_M)
    key = inversion_key(model.identity, refs, f"stride:{stride}", device.type, _arithmetic(mc))
    if cfg.cache_dir:  # one walk to the largest t_M; every other t_M is a point the cache kept on the way
        max_bytes = int(cfg.cache_max_gb * 1e9) if cfg.cache_max_gb else None

        def latents_at(t: int) -> torch.Tensor:
            return invert_cached(predictor, refs, ddim.stride_grid(t, stride), cfg.cache_dir, key, cfg.progress,
                                 cache_keep(cfg, model.resolution), max_bytes)[0]
    else:
        points: dict[int, torch.Tensor] = {}
        ddim.invert_to(predictor, refs, ddim.stride_grid(wanted[-1], stride), cfg.progress,
                       lambda t, x: points.__setitem__(t, x) if t in wanted else None)
        latents_at = points.__getitem__
    unet = ev.FeatureNetwork(ev.MidBlockFeatures(model.unet, pool="mean_std"), 0, f"unet-std-{model.identity}")
    choice, section = auto.choose(cfg, predictor, refs, latents_at, unet)
    log.info("auto: chose %s at t_M = %d", section["chosen"]["candidate"], section["chosen"]["t_M"])
    chosen = auto.apply(cfg, [*choice["overrides"], "auto.enabled=false"])
    chosen.output_dir = cfg.output_dir
    return chosen, section


class _RangeSink:
    """Keeps the draws with global indices in [lo, hi) of a stream handed over in order."""

    def __init__(self, latents: LatentFile, lo: int, hi: int):
        self.latents, self.lo, self.hi, self.next = latents, lo, hi, 0

    def __call__(self, z: torch.Tensor) -> None:
        a, b = self.next, self.next + len(z)
        self.next = b
        lo, hi = max(a, self.lo), min(b, self.hi)
        if lo < hi:
            self.latents.append(z[lo - a:hi - a])


def _generate(cfg: DictConfig, predictor: ddim.NoisePredictor, drawn: LatentFile, mine: slice, grid: list[int],
              folder: Path, dist: Dist, scores):
    """Denoise ``z`` in chunks of ``sampler.batch_size``; as each chunk is done its PNGs are written (named by
    their index in the whole run) and its scores taken (``evaluate.SampleScores``), and the chunk is dropped.
    Under torchrun each rank takes a contiguous run of whole chunks (docs/design.md section 4) and rank 0
    merges every rank's scores, in sample order."""
    from concurrent.futures import ThreadPoolExecutor

    index = mine.start
    # PNG encoding (zlib, outside the GIL) runs beside the next chunk's UNet calls instead of between them.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="png") as writer:
        pending = []
        for start in range(mine.start, mine.stop, cfg.sampler.batch_size):
            chunk = drawn.read(start, min(start + cfg.sampler.batch_size, mine.stop))
            s = cfg.sampler  # eta > 0: the chunk's noise comes from its own stream, so ranks agree with one process
            images = ddim.generate(predictor, chunk, grid, cfg.progress and dist.main, s.clip_x0, s.eta,
                                   batch_generator(cfg.seed, "eta", start) if s.eta > 0 else None)
            for img in to_uint8(images):
                pending.append(writer.submit(Image.fromarray(img).save, folder / f"{index:05d}.png"))
                index += 1
            scores.add(images)
        for done in pending:
            done.result()  # a failed write (a full disk) fails the run
    if not dist.active:
        return scores
    states = dist.gather(scores.state())
    return scores.merge(states) if dist.main else scores


def _feature_network(cfg: DictConfig, target, model, device: torch.device):
    """The FID/KID feature network of ``eval.feature`` (None for none), checked against the model's size."""
    from unseen import evaluate as ev

    e = cfg.eval
    if e.feature == "none":
        return None
    if len(target.eval_images) < 2:
        raise UserError(f"FID needs at least 2 held-out images, got target.num_eval = {len(target.eval_images)}")
    net = ev.feature_network(e.feature, device, e.inception_weights, model.unet, model.identity)
    if net.resolution is not None and net.resolution != model.resolution:
        raise UserError(f"eval.feature={e.feature} is meant for {net.resolution} px images, but this model makes "
                        f"{model.resolution} px images: use eval=inception or eval=unet (or eval=none)")
    return net


def evaluate(cfg: DictConfig, scores, target, net, unet_net=None) -> dict:
    """Every score of the samples, each with the counts it used (``scores``: taken as they were made)."""
    from unseen import evaluate as ev

    first, refs = scores.first, target.images
    held = ev.first_images(target.eval_images, len(first))
    out = {"memorisation": ev.memorisation_from(torch.cat(scores.nearest), refs),
           "diversity": {"pixel": ev.mean_pairwise_distance(first), "pixel_count": len(first), "count": scores.count}}
    mem, div = out["memorisation"], out["diversity"]
    if len(held) >= 2:
        # The same numbers for real images of the domain: where a sample's should lie
        div["held_out_pixel"] = ev.mean_pairwise_distance(held)
        div["pixel_ratio"] = div["pixel"] / div["held_out_pixel"]
        mem["held_out_fraction_below_0.5"] = ev.memorisation(held, refs)["fraction_below_0.5"]
    e = cfg.eval
    if net is not None:
        real = ev.cached_features(net, target.eval_images, target.eval_ids,
                                  Path(cfg.cache_dir) if cfg.cache_dir else None)
        fake = scores.fake_features()
        out["fid_kid"] = {"feature": e.feature, **ev.fid_kid(real, fake, e.kid_subset, e.kid_subsets, cfg.seed)}
        out["precision_recall"] = {"feature": e.feature, **ev.precision_recall(real, fake, e.pr_k)}
        div["feature"] = ev.mean_pairwise_distance(fake)
        div["held_out_feature"] = ev.mean_pairwise_distance(real[: max(len(fake), e.pixel_samples)])
        div["feature_ratio"] = div["feature"] / div["held_out_feature"]
        mem["feature"] = {"space": e.feature, **ev.feature_memorisation(fake, net(refs), real[: len(held)])}
    if unet_net is not None:
        mem["unet"] = {"space": "unet", **ev.feature_memorisation(torch.cat(scores.unet_features), unet_net(refs),
                                                                 unet_net(held) if len(held) else None)}
    if target.scorer is not None:
        rates = scores.domain_rates()
        hits = scores.domain_count(target.domain)
        low, high = ev.wilson_interval(hits, scores.count)
        out["domain_rates"] = {"target": target.domain, "target_rate": rates.get(target.domain, 0.0),
                               "target_count": hits, "interval_95": [low, high], "rates": rates,
                               "count": scores.count}
    return out


def _write(cfg, out: Path, staging: Path, refs, first_samples, recon, ref_latents, drawn: LatentFile, metrics
           ) -> None:
    image_grid([refs[:32], first_samples[:64]], columns=16).save(staging / "grid.png")
    if len(first_samples):  # each sample above its nearest reference (pixels): copies show at a glance
        from unseen.evaluate import nearest_indices

        shown = first_samples[:16]
        image_grid([shown, refs[nearest_indices(shown, refs)]], columns=16).save(staging / "nearest.png")
    if recon is not None:
        image_grid([refs[: len(recon)], recon], columns=16).save(staging / "reconstruction.png")
    if cfg.save_latents:
        save_streamed(staging / "latents.safetensors", {"references": ref_latents}, {"samples": drawn})
    drawn.close()
    drawn.path.unlink()
    (staging / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (staging / "owner").unlink()
    for item in staging.iterdir():
        dest = out / item.name
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(item, dest)
    staging.rmdir()
