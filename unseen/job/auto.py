"""Choose the mixing step and the latent source from the K references alone (``experiment=auto``).

The paper leaves "finding the mixing step automatically" to future work. Here (docs/design.md s.1):

1. the K references are split (seeded) into a fitting part and a validation part (``auto.holdout``);
   the held-out images of the target are never looked at: they score the final run only;
2. every reference is inverted ONCE to the largest candidate t_M (the cache keeps the grid's points,
   so every smaller t_M is read, not recomputed);
3. each candidate (t_M x source) draws ``auto.count`` latents from the fitting references' latents and
   denoises them as successive halving asks (``auto.eta``, ``rung_sizes``: every candidate on a few samples,
   the best 1/eta on eta times more, the last few on all ``auto.count``). The samples are scored in the UNet's
   middle-block space (every model has one; no classifier), pooled by mean and std over space (the std tells
   shapes apart: squares from disks, 1.12 against 1.06 for real squares, where the mean alone gives 1.10
   against 1.05):

       score = chamfer(samples, validation) / chamfer(fitting, validation)          (fidelity + coverage)
             + penalty * max(0, memorised - max_memorised)                          (copies of fitting refs)
             + penalty * max(0, min_diversity - diversity ratio)                   (collapse, pixels or features)
             + penalty * max(0, redraws - validation's redraws - max_redraw_excess) (redraws, unseen.evaluation.redraw)

   where chamfer(A, B) = (mean_a min_b |a - b| + mean_b min_a |a - b|) / 2, ``memorised`` is the fraction
   of samples nearer a fitting reference IN PIXELS than half the fitting references' own nearest-neighbour
   distance, and the diversity ratio is the smaller of the samples' mean pairwise distance over the
   validation references', in features and in pixels. The lowest score of the last rung wins. The same
   fraction in the (pooled, so shift- and mirror-blind) feature space is recorded beside it, not penalised: it
   counts a moved or mirrored reference as a copy, which would rule out every symmetry a user declares.
4. ``choose_config`` returns the winner as a finished config; the ordinary run then runs once on it, with all K
   references; metrics.json gets an ``auto`` section.

The candidates come in as typed configs (``Config``, made by the entry points from ``auto.candidates``' overrides,
each checked there as a run of its own at every t_M); auto varies their t_M and sample count (``specs.varied``) and
reads no config text.
"""

from __future__ import annotations

import logging
import math
import time

import torch

from unseen.errors import UserError, check_float
from unseen.evaluation import redraw
from unseen.evaluation.distances import mean_pairwise_distance, memorisation, nearest_distances
from unseen.evaluation.features import FeatureNetwork, MidBlockFeatures
from unseen.job.cache import invert_run
from unseen.method import ddim
from unseen.method.sources import DrawContext, source
from unseen.models.autoencoder import Pixels
from unseen.specs import AutoConfig, Config, draw_spec, varied

log = logging.getLogger("unseen")


def split_sizes(k: int, holdout: float) -> tuple[int, int]:
    """(fitting, validation) reference counts of ``split``."""
    held = max(2, round(holdout * k))
    return k - held, held


def check(cfg: Config) -> None:
    """experiment=auto's own values (each candidate is checked as a run of its own by unseen.job.checks)."""
    a = cfg.auto
    k = cfg.target.num_references
    fitting, _ = split_sizes(k, a.holdout)
    if not 0 < a.holdout < 1 or fitting < 4:
        raise UserError(f"auto.holdout = {a.holdout} of target.num_references = {k} leaves too few references to fit "
                        f"(at least 4 to fit and 2 to validate): add references or change auto.holdout")
    stride = cfg.mixing.stride
    if cfg.mixing.steps is not None or stride is None:
        raise UserError("experiment=auto needs the stride grid (mixing.steps=null): one inversion serves every t_M")
    bad = [t for t in a.t_M if t < stride or t % stride]
    if not a.t_M or bad:
        raise UserError(f"auto.t_M must be positive multiples of mixing.stride = {stride}, got {list(a.t_M)}")
    twice = sorted({t for t in a.t_M if list(a.t_M).count(t) > 1})
    if twice:
        raise UserError(f"auto.t_M lists {', '.join(map(str, twice))} more than once ({list(a.t_M)}): each t_M is "
                        f"scored once; give each value once")
    if not a.candidates:
        raise UserError("auto.candidates is empty: name at least one source (see conf/experiment/auto.yaml)")
    for name, overrides in a.candidates.items():
        if any("=" not in o for o in overrides):
            raise UserError(f"auto.candidates.{name} must be a list of key=value overrides, got {list(overrides)}")
    if a.count < 2:
        raise UserError(f"auto.count must be >= 2 (diversity needs pairs), got {a.count}")
    if a.eta < 1:
        raise UserError(f"auto.eta must be >= 1 (1: every candidate on auto.count samples), got {a.eta}")
    check_float(a.penalty, "auto.penalty", 0)
    check_float(a.max_memorised, "auto.max_memorised", 0, 1)
    check_float(a.max_redraw_excess, "auto.max_redraw_excess", 0, 1)
    check_float(a.min_diversity, "auto.min_diversity", 0)


def chamfer(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((nearest_distances(a, b).mean() + nearest_distances(b, a).mean()) / 2)


def split(k: int, holdout: float, seed: int, groups: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the fitting and the validation references (a seeded permutation); with the references'
    identities (``groups``), by identity as the target's own split is: a validation reference is never the twin of
    a fitting one (a split pair's other half is left out of both)."""
    fitting, held = split_sizes(k, holdout)
    if groups is not None:
        from unseen.data import split_groups

        fit, val, _ = split_groups(list(range(k)), groups.__getitem__, fitting, None, seed + 7919,
                                   what="the references")
        return torch.tensor(fit, dtype=torch.long), torch.tensor(val, dtype=torch.long)
    order = torch.randperm(k, generator=torch.Generator().manual_seed(seed + 7919))
    return order[held:].sort().values, order[:held].sort().values


def choose_config(cfg: Config, candidates: dict[str, Config], predictor: ddim.NoisePredictor, model,
                  images: torch.Tensor, x0: torch.Tensor | None = None,
                  groups: list[str] | None = None) -> tuple[Config, dict]:
    """The stage: the finished config of the winning candidate (``auto.enabled`` false, its ``mixing.t_M`` and
    source set; everything else, ``mixing.generate_steps`` included, as the user gave it) and the ``auto``
    section of metrics.json. ``images`` are the K references, ``x0`` the same in the model's space (a latent
    model's: encoded by the pipeline; ``images`` encoded here if not given)."""
    stride, wanted = cfg.mixing.stride, sorted(cfg.auto.t_M)
    x0 = model.space.encode(images) if x0 is None else x0
    evals, started, latents = predictor.evaluations, time.perf_counter(), {}
    if cfg.cache_dir:  # one walk to the largest t_M; every other t_M is a point the cache kept on the way
        for t in reversed(wanted):
            latents[t] = invert_run(cfg, predictor, model.identity, x0, ddim.stride_grid(t, stride),
                                    f"stride:{stride}")[0]
    else:
        ddim.invert_to(predictor, x0, ddim.stride_grid(wanted[-1], stride), cfg.progress,
                       lambda t, x: latents.__setitem__(t, x) if t in wanted else None)
    # what the walk costs on an empty cache: one evaluation per reference per step
    inversion = {"unet_evaluations": predictor.evaluations - evals, "alone": len(x0) * (wanted[-1] // stride),
                 "seconds": round(time.perf_counter() - started, 3)}
    unet = FeatureNetwork(MidBlockFeatures(model.unet, "mean_std", model.space, model.conditioning), 0,
                          f"unet-std-{model.identity}")
    (name, t), section = choose(cfg, candidates, predictor, images, latents.__getitem__, unet, model.space, x0,
                                groups)
    section["inversion"] = inversion
    log.info("auto: chose %s at t_M = %d", name, t)
    chosen = varied(candidates[name], t_M=t)
    chosen.output_dir = cfg.output_dir
    return chosen, section


class _Reference:
    """The fitting and validation references and what every candidate is compared with."""

    def __init__(self, cfg: Config, images: torch.Tensor, unet, space, x0: torch.Tensor,
                 groups: list[str] | None = None):
        self.fit, self.val = split(len(images), cfg.auto.holdout, cfg.seed, groups)
        self.fit_images, self.val_images = images[self.fit], images[self.val]
        self.space, self.fit_x0 = space, x0[self.fit]
        self.fit_features, self.val_features = unet(self.fit_images), unet(self.val_images)
        self.baseline = chamfer(self.fit_features, self.val_features)
        self.diversity = mean_pairwise_distance(self.val_features)
        self.pixel_diversity = mean_pairwise_distance(self.val_images)
        self.nn = nearest_distances(self.fit_features, self.fit_features, exclude_self=True).mean()
        # redraws of the fitting references (evaluation.redraw), and how often a validation reference looks like one
        self.redraw_fit = redraw.to_space(self.fit_images)
        self.redraw_limit = redraw.thresholds(self.redraw_fit, [groups[i] for i in self.fit] if groups else None)[0]
        self.redraw_floor = redraw.rate(redraw.to_space(self.val_images), self.redraw_fit, self.redraw_limit)[0] \
            / max(1, len(self.val))


def cost(section: dict, stage_evaluations: dict, k: int, inversion_steps: int) -> dict:
    """auto's UNet evaluations against those of the plain run of the config it chose, each as if run alone on
    an empty cache (the inversions counted as one evaluation per reference per step: the walk auto made served
    the run, so the run's own ``invert`` stage may have cost nothing)."""
    plain = sum(v for s, v in stage_evaluations.items() if s not in ("auto", "invert")) + k * inversion_steps
    alone = section["unet_evaluations"] + section["inversion"]["alone"]
    return {"unet_evaluations": alone, "plain_run_unet_evaluations": plain, "ratio": round(alone / plain, 3)}


def rung_sizes(candidates: int, count: int, eta: int) -> list[int]:
    """Samples a surviving candidate has at each rung of successive halving: ``count`` at the last, ``eta`` times
    fewer at each earlier one (at least 2: diversity needs pairs); one rung per cut by ``eta`` until one is left.
    25 candidates, 32 samples, eta 3: [4, 11, 32] for 25, 9 and 3 candidates. eta 1: every candidate at ``count``."""
    if eta <= 1 or candidates <= 1:
        return [count]
    rungs = max(1, math.ceil(math.log(candidates) / math.log(eta) - 1e-9))
    return [max(2, min(count, math.ceil(count / eta ** (rungs - 1 - r)))) for r in range(rungs)]


def plan(cfg: Config, k: int) -> str:
    """The log line before the stage starts: what it scores and about what it costs, against the run itself."""
    a, stride = cfg.auto, cfg.mixing.stride
    n = len(a.candidates) * len(a.t_M)
    sizes, alive, generation = rung_sizes(n, a.count, a.eta), n, 0
    for size in sizes:
        generation += alive * size
        alive = max(1, math.ceil(alive / a.eta)) if a.eta > 1 else alive
    steps = sum(a.t_M) / len(a.t_M) / stride
    cost = int(k * max(a.t_M) / stride + generation * steps)
    run = int(cfg.sampler.count * cfg.mixing.t_M / stride)
    return (f"auto ({a.by or 'auto.enabled'}): choosing among {len(a.candidates)} source(s) x t_M {list(a.t_M)} "
            f"before the run, about {cost:,} UNet evaluations (the run's own generation: about {run:,}); "
            f"set mixing.t_M to skip the t_M choice")


def choose(cfg: Config, candidates: dict[str, Config], predictor: ddim.NoisePredictor, images: torch.Tensor,
           latents_at, unet, space=Pixels(), x0: torch.Tensor | None = None,
           groups: list[str] | None = None) -> tuple[tuple[str, int], dict]:
    """The winning candidate's name and t_M, and the ``auto`` section of metrics.json.

    ``latents_at(t)`` gives the K references' latents at t (from the one inversion); ``unet`` the feature network
    of the middle block; ``x0`` the references in the model's space (``space.encode(images)`` if not given).
    Successive halving (``auto.eta``): every candidate is scored on a few samples, the best 1/eta go on with more,
    until the last rung scores the survivors on ``auto.count``; a candidate's samples are the first of the same
    draws at every rung, so a survivor's last score is the one an exhaustive search gives it."""
    a, ref = cfg.auto, _Reference(cfg, images, unet, space, space.encode(images) if x0 is None else x0, groups)
    started = time.perf_counter()
    everyone = [_Candidate(varied(spec, t_M=t, count=a.count), name, t, predictor, ref, latents_at(t)[ref.fit])
                for t in sorted(a.t_M) for name, spec in candidates.items()]
    alive, sizes, rungs = [c for c in everyone if c.error is None], rung_sizes(len(everyone), a.count, a.eta), []
    for rung, n in enumerate(sizes):
        for c in alive:
            c.score(n, rung, predictor, ref, unet)
        rungs.append({"samples": n, "candidates": len(alive)})
        keep = 1 if rung == len(sizes) - 1 else math.ceil(len(alive) / a.eta)
        alive = sorted(alive, key=lambda c: c.row["score"])[:keep]
    if not alive:
        raise UserError("experiment=auto: no candidate could run on these references: " + everyone[0].error)
    best, rows = alive[0].row, [c.row for c in everyone]
    section = {"chosen": {"candidate": best["candidate"], "t_M": best["t_M"]}, "candidates": rows,
               "fitting_references": len(ref.fit), "validation_references": len(ref.val),
               "samples_per_candidate": a.count, "eta": a.eta, "rungs": rungs, "feature": "unet",
               "seconds": round(time.perf_counter() - started, 3),
               "unet_evaluations": sum(r.get("unet_evaluations", 0) for r in rows)}
    return (best["candidate"], best["t_M"]), section


class _Candidate:
    """One candidate at one t_M. Its ``auto.count`` latents are drawn at once (a draw costs no UNet call) and
    denoised as the rungs ask for more, so its first n samples are the same at every rung."""

    def __init__(self, cand: Config, name: str, t: int, predictor: ddim.NoisePredictor, ref: _Reference,
                 z_fit: torch.Tensor):
        self.cfg, self.samples, self.features, self.evaluations = cand, [], [], 0
        self.row: dict = {"candidate": name, "t_M": t, "score": float("inf")}
        self.error, src, drawn = None, source(cand.sampler.source), []
        try:
            ctx = DrawContext(draw_spec(cand), ref.fit_x0, z_fit, predictor.alpha_bar(t))
            found = src.draw(ctx, cand.auto.count, drawn.append)
        except UserError as err:  # e.g. too few fitting references for a pca prior: not a candidate here
            self.error = self.row["error"] = str(err)
            return
        self.z = torch.cat(drawn).reshape(-1, *ref.fit_x0.shape[1:])
        self.grid = src.grid(ddim.stride_grid(t, cand.mixing.stride), predictor.num_train_timesteps)
        if found.signal_scale < 1:
            self.grid = ddim.matched_grid(self.grid, predictor.alphas_cumprod, t, found.signal_scale)
        self.clip = cand.sampler.clip_x0 and isinstance(ref.space, Pixels)  # an image-range clamp: not for latents

    def score(self, n: int, rung: int, predictor: ddim.NoisePredictor, ref: _Reference, unet) -> None:
        """Denoise up to ``n`` samples and score them against the validation references (``self.row``)."""
        have, evals = sum(len(s) for s in self.samples), predictor.evaluations
        if n > have:
            with predictor.guiding(self.cfg.sampler.guidance):
                new = ref.space.decode(ddim.generate(predictor, self.z[have:n], self.grid, clip_x0=self.clip))
            self.samples.append(new)
            self.features.append(unet(new))
        self.evaluations += predictor.evaluations - evals
        self.row = {**self.row, **_score(self.cfg.auto, torch.cat(self.samples), torch.cat(self.features), ref),
                    "samples": n, "rung": rung, "unet_evaluations": self.evaluations}
        log.info("auto: t_M %d %-14s %2d samples: score %.3f (chamfer %.3f, memorised %.2f, diversity %.2f)",
                 self.row["t_M"], self.row["candidate"], n, self.row["score"], self.row["chamfer_ratio"],
                 self.row["memorised_pixel"], min(self.row["diversity_feature"], self.row["diversity_pixel"]))


def _score(a: AutoConfig, samples: torch.Tensor, features: torch.Tensor, ref: _Reference) -> dict:
    """Samples and their features against the validation references (the module's docstring, step 3)."""
    pixel_memorised = memorisation(samples, ref.fit_images)["fraction_below_0.5"]
    feature_memorised = float((nearest_distances(features, ref.fit_features) / ref.nn < 0.5).double().mean())
    # Collapse in either space: the UNet's pooled features miss what pixels show (slerp at a small t_M on
    # smileys: feature diversity fine, pixel diversity 0.73 of the domain's).
    feature_diversity = mean_pairwise_distance(features) / ref.diversity
    pixel_diversity = mean_pairwise_distance(samples) / ref.pixel_diversity
    fidelity = chamfer(features, ref.val_features) / ref.baseline
    redrawn = redraw.rate(redraw.to_space(samples), ref.redraw_fit, ref.redraw_limit)[0] / max(1, len(samples))
    score = (fidelity + a.penalty * max(0.0, pixel_memorised - a.max_memorised)
             + a.penalty * max(0.0, a.min_diversity - min(feature_diversity, pixel_diversity))
             + a.penalty * max(0.0, redrawn - ref.redraw_floor - a.max_redraw_excess))
    return {"score": score, "chamfer_ratio": fidelity, "memorised_pixel": pixel_memorised, "redraw": redrawn,
            "redraw_floor": ref.redraw_floor,
            "memorised_feature": feature_memorised, "diversity_feature": feature_diversity,
            "diversity_pixel": pixel_diversity}
