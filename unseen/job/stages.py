"""The stages of a run (docs/design.md section 2), each a small function with typed inputs and outputs:

    load -> load_target -> invert (-> reconstruct) -> draw (a source, unseen.method.sources) -> denoise -> score

``unseen.job.pipeline`` composes them; what they score with and what they score is unseen.evaluation.scoring;
``unseen.job.output`` writes what they made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from unseen.data import Target
from unseen.data import load_target as _load_target
from unseen.evaluation import scorer
from unseen.images import psnr
from unseen.job.cache import invert_run
from unseen.job.distributed import SINGLE, Dist, local_device
from unseen.job.latents import LatentFile
from unseen.job.output import sample_writer
from unseen.method import ddim
from unseen.method.sources import batch_generator
from unseen.models.autoencoder import Autoencoder, Pixels, round_trip_psnr
from unseen.models.conditioning import check_condition
from unseen.models.loading import LoadedModel, checkpoint_folder, load_model, resolve_device
from unseen.specs import Config

log = logging.getLogger("unseen")


@dataclass
class Loaded:
    """The frozen model, ready to predict noise."""

    model: LoadedModel
    predictor: ddim.NoisePredictor
    device: torch.device
    location: str  # the folder or hub id it was loaded from (a converted checkpoint's cache folder)


def load(cfg: Config, dist: Dist = SINGLE) -> Loaded:
    """The model of ``cfg.model`` (a raw checkpoint is converted once: by rank 0, first), checked against t_M."""
    mc = cfg.model
    device = resolve_device(local_device(cfg.device))
    location = mc.pretrained
    if mc.checkpoint is not None:
        for turn in ("main", "others"):
            if (turn == "main") == dist.main:
                location = str(checkpoint_folder(mc.checkpoint, mc.checkpoint_kind, mc.image_size, mc.num_head_channels,
                                               cfg.cache_dir))
            dist.barrier()
    model = load_model(location, mc.subfolder, mc.scheduler_subfolder, mc.revision, device, mc.precision, mc.prompt,
                       mc.class_label, mc.batch_size)
    if mc.channels_last:
        model.unet.to(memory_format=torch.channels_last)
    if mc.compile:
        model.unet = torch.compile(model.unet)  # attributes (config, dtype, mid_block) pass through to the model
    ddim.check_t_M(cfg.mixing.t_M, len(model.alphas_cumprod))
    check_condition(model.kind, mc.prompt, mc.class_label, cfg.sampler.guidance, name=f"model={mc.name}")
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, mc.batch_size, model_dtype=model.unet.dtype,
                                    prediction_type=model.prediction_type, conditioning=model.conditioning)
    return Loaded(model, predictor, device, location)


def load_target(cfg: Config, resolution: int) -> Target:
    """The K references and the held-out images (none when nothing scores the samples)."""
    t = cfg.target
    num_eval = t.num_eval if cfg.eval.feature != "none" else 0
    return _load_target(t.kind, t.num_references, resolution, name=t.name, domain=t.domain, path=t.path,
                        seed=t.seed, num_eval=num_eval, eval_path=t.eval_path,
                        exclude=[p for p in (cfg.output_dir, cfg.cache_dir) if p], category=t.category,
                        cache_dir=cfg.cache_dir, group_by=t.group_by)


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


def denoise(cfg: Config, predictor: ddim.NoisePredictor, drawn: LatentFile, mine: slice, grid: list[int],
            folder: Path, dist: Dist, scores: scorer.SampleScores, space=Pixels()) -> scorer.SampleScores:
    """Denoise the drawn latents in chunks of ``sampler.batch_size``; as each chunk is done its PNGs are written
    (named by their index in the whole run) and its scores taken, and the chunk is dropped. Under torchrun each
    rank takes a contiguous run of whole chunks (docs/design.md section 4) and rank 0 merges every rank's
    scores, in sample order."""
    s = cfg.sampler
    clip = s.clip_x0 and isinstance(space, Pixels)  # x0's range [-1, 1] is the images', not an autoencoder's latents'
    with sample_writer(folder) as write:
        for start in range(mine.start, mine.stop, s.batch_size):
            chunk = drawn.read(start, min(start + s.batch_size, mine.stop))
            # eta > 0: the chunk's noise comes from its own stream, so ranks agree with one process
            images = ddim.generate(predictor, chunk, grid, cfg.progress and dist.main, clip, s.eta,
                                   batch_generator(cfg.seed, "eta", start) if s.eta > 0 else None, s.eta_from)
            if s.cleanup_t:
                images = ddim.cleanup(predictor, images, grid, s.cleanup_t, batch_generator(cfg.seed, "cleanup", start))
            images = space.decode(images)
            write(images, start)
            scores.add(images)
    if not dist.active:
        return scores
    states = dist.gather(scores.state())
    return scores.merge(states) if dist.main else scores


