"""The stages of a run (docs/design.md section 2), each a small function with typed inputs and outputs:

    load -> load_target -> invert -> draw (a source: fit + select for the prior) -> denoise -> evaluate

``unseen.job.pipeline`` composes them; ``unseen.job.output`` writes what they made.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from unseen.specs import Config
from PIL import Image

from unseen.method import ddim
from unseen.evaluation import fewshot, goals
from unseen import timing
from unseen.evaluation import distances, features, fid, grain, scorer
from unseen.evaluation.intervals import wilson_interval
from unseen.models.autoencoder import Autoencoder, Pixels, round_trip_psnr
from unseen.job.cache import invert_run
from unseen.data import Target, batches, check_held_out, load_target as _load_target
from unseen.job.distributed import SINGLE, Dist, local_device
from unseen.models.conditioning import check_condition
from unseen.errors import UserError
from unseen.images import psnr, to_uint8
from unseen.job.latents import LatentFile
from unseen.evaluation.redraw import redraws, to_space as to_redraw_space
from unseen.evaluation.spectrum import band_energy, band_ratios
from unseen.models.loading import LoadedModel, checkpoint_folder, load_model, resolve_device
from unseen.method.sources import batch_generator

log = logging.getLogger("unseen")


@dataclass
class Stages:
    """Wall time and UNet evaluations (images through the UNet) per stage."""

    seconds: dict[str, float] = field(default_factory=dict)
    unet_evaluations: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, predictor: ddim.NoisePredictor | None = None):
        start, evals = time.perf_counter(), predictor.evaluations if predictor else 0
        with timing.stage(name):
            yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)
        if predictor is not None:
            self.unet_evaluations[name] = self.unet_evaluations.get(name, 0) + predictor.evaluations - evals


@dataclass
class Loaded:
    """The frozen model, ready to predict noise."""

    model: LoadedModel
    predictor: ddim.NoisePredictor
    device: torch.device
    source: str  # the folder or hub id it came from (a converted checkpoint's cache folder)


def load(cfg: Config, dist: Dist = SINGLE) -> Loaded:
    """The model of ``cfg.model`` (a raw checkpoint is converted once: by rank 0, first), checked against t_M."""
    mc = cfg.model
    device = resolve_device(local_device(cfg.device))
    source = mc.source
    if mc.checkpoint is not None:
        for turn in ("main", "others"):
            if (turn == "main") == dist.main:
                source = str(checkpoint_folder(mc.checkpoint, mc.checkpoint_kind, mc.image_size, mc.num_head_channels,
                                               cfg.cache_dir))
            dist.barrier()
    model = load_model(source, mc.subfolder, mc.scheduler_subfolder, mc.revision, device, mc.precision, mc.prompt,
                       mc.class_label, mc.batch_size)
    if mc.channels_last:
        model.unet.to(memory_format=torch.channels_last)
    if mc.compile:
        model.unet = torch.compile(model.unet)  # attributes (config, dtype, mid_block) pass through to the model
    ddim.check_t_M(cfg.mixing.t_M, len(model.alphas_cumprod))
    check_condition(model.kind, mc.prompt, mc.class_label, cfg.sampler.guidance, name=f"model={mc.name}")
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, mc.batch_size, model_dtype=model.unet.dtype,
                                    prediction_type=model.prediction_type, conditioning=model.conditioning)
    return Loaded(model, predictor, device, source)


def load_target(cfg: Config, resolution: int) -> Target:
    """The K references and the held-out images (none when nothing scores the samples)."""
    t = cfg.target
    num_eval = t.num_eval if cfg.eval.feature != "none" else 0
    return _load_target(t.kind, t.num_references, resolution, name=t.name, domain=t.domain, path=t.path,
                        seed=t.seed, num_eval=num_eval, eval_path=t.eval_path,
                        exclude=[p for p in (cfg.output_dir, cfg.cache_dir) if p], category=t.category,
                        cache_dir=cfg.cache_dir, group_by=t.group_by)


@dataclass
class Scorers:
    """The feature networks the scores need: ``net`` for FID/KID (None for eval.feature=none), ``unet`` the
    model's middle block for memorisation (None when off)."""

    net: features.FeatureNetwork | None
    unet: features.FeatureNetwork | None
    lpips: fewshot.Pairwise | None = None  # LPIPS between images, for the few-shot measures


def scorers(cfg: Config, target: Target, loaded: Loaded) -> Scorers:
    """Made before the work, so a wrong choice fails in seconds."""
    e, model = cfg.eval, loaded.model
    net = None
    if e.feature != "none":
        check_held_out(len(target.eval_images), scoring=True)
        net = features.feature_network(e.feature, loaded.device, e.inception_weights, model.unet, model.identity,
                                 model.space, model.conditioning)
        if net.resolution is not None and net.resolution != model.resolution:
            raise UserError(f"eval.feature={e.feature} is meant for {net.resolution} px images, but this model makes "
                            f"{model.resolution} px images: use eval=inception or eval=unet (or eval=none)")
    unet = None
    if e.unet_memorisation:
        unet = net if e.feature == "unet" else features.feature_network("unet", loaded.device, None, model.unet,
                                                                  model.identity, model.space, model.conditioning)
    weights = fewshot.check_lpips(e)
    if weights is None and e.lpips is None:
        log.info("LPIPS: no %s found (eval.lpips_weights): the few-shot measures are in the %s space only",
                 fewshot.ALEXNET_FILE, e.feature)
    return Scorers(net, unet, fewshot.lpips_pairwise(weights, loaded.device) if weights else None)


def clusters(cfg: Config, target: Target, sc: Scorers) -> list[fewshot.Clusters]:
    """The few-shot clusters the samples are assigned to: in the feature space, and in LPIPS where it is on."""
    out = []
    if sc.net is not None:
        out.append(fewshot.Clusters(sc.net(target.images), fewshot.euclidean, cfg.eval.feature, cfg.eval.per_cluster))
    if sc.lpips is not None:
        out.append(fewshot.Clusters(target.images, sc.lpips, "lpips", cfg.eval.per_cluster))
    return out


@dataclass
class Grids:
    inversion: list[int]
    spec: str  # the inversion grid's name, for the cache key
    generation: list[int]

    @property
    def steps(self) -> int:
        return len(self.inversion) - 1


def grids(cfg: Config) -> Grids:
    return Grids(*ddim.grids(cfg.mixing))


def invert(cfg: Config, loaded: Loaded, refs: torch.Tensor, g: Grids, dist: Dist = SINGLE
           ) -> tuple[torch.Tensor, dict]:
    """The references' latents at t_M (from the cache where it has them) and the cache's report."""
    log.info("inverting %d references to t_M = %d in %d steps", len(refs), cfg.mixing.t_M, g.steps)
    return invert_run(cfg, loaded.predictor, loaded.model.identity, refs, g.inversion, g.spec, dist)


def reconstruct(cfg: Config, loaded: Loaded, refs: torch.Tensor, ref_latents: torch.Tensor, g: Grids
                ) -> tuple[torch.Tensor, dict]:
    """The first ``mixing.reconstruct`` references denoised back from their latents, and the PSNR section."""
    n = min(cfg.mixing.reconstruct, len(refs))
    space = loaded.model.space
    recon = space.decode(ddim.generate(loaded.predictor, ref_latents[:n], g.inversion, progress=cfg.progress))
    rec_psnr = psnr(recon, refs[:n])
    out = {"mean": float(rec_psnr.mean()), "min": float(rec_psnr.min()), "count": n}
    if isinstance(space, Autoencoder):  # the floor: what encode -> decode alone loses
        out["autoencoder_round_trip"] = round_trip_psnr(space, refs[:n])
    return recon, out


class RangeSink:
    """Keeps the draws with global indices in [lo, hi) of a stream handed over in order."""

    def __init__(self, latents: LatentFile, lo: int, hi: int):
        self.latents, self.lo, self.hi, self.next = latents, lo, hi, 0

    def __call__(self, z: torch.Tensor) -> None:
        a, b = self.next, self.next + len(z)
        self.next = b
        lo, hi = max(a, self.lo), min(b, self.hi)
        if lo < hi:
            self.latents.append(z[lo - a:hi - a])


def cleanup(predictor: ddim.NoisePredictor, images: torch.Tensor, grid: list[int], t: int,
            generator: torch.Generator) -> torch.Tensor:
    """A short renoise-and-denoise of finished samples: forward to ``t`` with fresh noise, then deterministic DDIM
    back on the generation grid. High-frequency residue below the noise level at ``t`` is replaced by what the
    model expects there; the shapes, far above it, stay."""
    return ddim.generate(predictor, ddim.renoise(images, predictor.alpha_bar(t), generator),
                         [g for g in grid if g <= t])


def denoise(cfg: Config, predictor: ddim.NoisePredictor, drawn: LatentFile, mine: slice, grid: list[int],
            folder: Path, dist: Dist, scores: scorer.SampleScores, space=Pixels()) -> scorer.SampleScores:
    """Denoise the drawn latents in chunks of ``sampler.batch_size``; as each chunk is done its PNGs are written
    (named by their index in the whole run) and its scores taken, and the chunk is dropped. Under torchrun each
    rank takes a contiguous run of whole chunks (docs/design.md section 4) and rank 0 merges every rank's
    scores, in sample order."""
    from concurrent.futures import ThreadPoolExecutor

    s, index = cfg.sampler, mine.start
    clip = s.clip_x0 and isinstance(space, Pixels)  # x0's range [-1, 1] is the images', not an autoencoder's latents'
    # PNG encoding (zlib, outside the GIL) runs beside the next chunk's UNet calls instead of between them.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="png") as writer:
        pending = []
        for start in range(mine.start, mine.stop, s.batch_size):
            chunk = drawn.read(start, min(start + s.batch_size, mine.stop))
            # eta > 0: the chunk's noise comes from its own stream, so ranks agree with one process
            images = ddim.generate(predictor, chunk, grid, cfg.progress and dist.main, clip, s.eta,
                                   batch_generator(cfg.seed, "eta", start) if s.eta > 0 else None, s.eta_from)
            if s.cleanup_t:
                images = cleanup(predictor, images, grid, s.cleanup_t, batch_generator(cfg.seed, "cleanup", start))
            images = space.decode(images)
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


def evaluate(cfg: Config, scores: scorer.SampleScores, target: Target, sc: Scorers) -> dict:
    """Every score of the samples, each with the counts it used (``scores``: taken as they were made)."""
    first, refs, e = scores.first, target.images, cfg.eval
    held = scorer.first_images(target.eval_images, len(first))
    out = {"memorisation": distances.memorisation_from(torch.cat(scores.nearest), refs),
           "diversity": {"pixel": distances.mean_pairwise_distance(first), "pixel_count": len(first), "count": scores.count}}
    mem, div = out["memorisation"], out["diversity"]
    if len(held) >= 2:  # the same numbers for real images of the domain: where a sample's should lie
        div["held_out_pixel"] = distances.mean_pairwise_distance(held)
        div["pixel_ratio"] = div["pixel"] / div["held_out_pixel"]
        mem["held_out_fraction_below_0.5"] = distances.memorisation(held, refs)["fraction_below_0.5"]
    if len(target.eval_images) >= 2:  # every held-out image: grain is a mean, cheap at any count
        real_grain = torch.cat([grain.grain(b) for b in batches(target.eval_images, 256)])
        out["grain"] = grain.grain_ratio(torch.cat(scores.grain), real_grain, cfg.seed)
        real_bands = torch.cat([band_energy(b) for b in batches(target.eval_images, 256)])
        out["spectrum"] = band_ratios(torch.cat(scores.bands), real_bands, refs.shape[-1], cfg.seed)
    held_redraw = torch.cat([to_redraw_space(b) for b in batches(target.eval_images, 256)]) \
        if len(target.eval_images) else None
    out["redraw"] = redraws(scores.redraw_nearest(), held_redraw, scores.redraw_refs, target.ref_groups)
    if sc.net is not None:
        real = features.cached_features(sc.net, target.eval_images, target.eval_ids,
                                  Path(cfg.cache_dir) if cfg.cache_dir else None)
        fake = scores.fake_features()
        out["fid_kid"] = {"feature": e.feature, **fid.fid_kid(real, fake, e.kid_subset, e.kid_subsets, cfg.seed)}
        out["precision_recall"] = {"feature": e.feature, **distances.precision_recall(real, fake, e.pr_k)}
        div["feature"] = distances.mean_pairwise_distance(fake)
        div["held_out_feature"] = distances.mean_pairwise_distance(real[: max(len(fake), e.pixel_samples)])
        div["feature_ratio"] = div["feature"] / div["held_out_feature"]
        mem["feature"] = {"space": e.feature, **distances.feature_memorisation(fake, sc.net(refs), real[: len(held)])}
    if sc.unet is not None:
        mem["unet"] = {"space": "unet", **distances.feature_memorisation(torch.cat(scores.unet_features), sc.unet(refs),
                                                                 sc.unet(held) if len(held) else None)}
    if scores.clusters:
        out["fewshot"] = {c.space if c.space == "lpips" else "feature": c.result() for c in scores.clusters}
    if target.scorer is not None:
        out["domain_rates"] = domain_rates(scores, target.domain)
    out["goals"] = goals.check(out)
    return out


def domain_rates(scores: scorer.SampleScores, domain: str) -> dict:
    """The judge's rates by domain, and the target's with its count and Wilson 95% interval."""
    rates, hits = scores.domain_rates(), scores.domain_count(domain)
    low, high = wilson_interval(hits, scores.count)
    return {"target": domain, "target_rate": rates.get(domain, 0.0), "target_count": hits,
            "interval_95": [low, high], "rates": rates, "count": scores.count}
