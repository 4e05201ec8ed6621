"""Choose the mixing step and the latent source from the K references alone (``experiment=auto``).

The paper leaves "finding the mixing step automatically" to future work. Here (docs/design.md s.1):

1. the K references are split (seeded) into a fitting part and a validation part (``auto.holdout``);
   the held-out images of the target are never looked at: they score the final run only;
2. every reference is inverted ONCE to the largest candidate t_M (the cache keeps the grid's points,
   so every smaller t_M is read, not recomputed);
3. each candidate (t_M x source) draws ``auto.count`` latents from the fitting references' latents,
   denoises them, and is scored in the UNet's middle-block space (every model has one; no classifier),
   pooled by mean and std over space (the std tells shapes apart: squares from disks, 1.12 against
   1.06 for real squares, where the mean alone gives 1.10 against 1.05):

       score = chamfer(samples, validation) / chamfer(fitting, validation)          (fidelity + coverage)
             + penalty * max(0, memorised - max_memorised)                          (copies of fitting refs)
             + penalty * max(0, min_diversity - diversity ratio)                   (collapse, pixels or features)

   where chamfer(A, B) = (mean_a min_b |a - b| + mean_b min_a |a - b|) / 2, ``memorised`` is the fraction
   of samples nearer a fitting reference IN PIXELS than half the fitting references' own nearest-neighbour
   distance, and the diversity ratio is the smaller of the samples' mean pairwise distance over the
   validation references', in features and in pixels. The lowest score wins. The same fraction in the (pooled, so shift- and mirror-blind) feature
   space is recorded beside it, not penalised: it counts a moved or mirrored reference as a copy, which
   would rule out every symmetry a user declares.
4. the run then goes on with the winner and all K references; metrics.json gets an ``auto`` section.
"""

from __future__ import annotations

import logging
import time

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from unseen import ddim
from unseen.errors import UserError

log = logging.getLogger("unseen")


def apply(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """A copy of ``cfg`` with ``key=value`` overrides (values parsed as YAML, as on the command line)."""
    # Unresolved: before Hydra starts (the CLI's precheck) ${hydra:...} cannot be resolved yet.
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    out = OmegaConf.create(container)
    for item in overrides:
        key, value = item.split("=", 1)
        OmegaConf.update(out, key, yaml.safe_load(value), merge=False)
    return out


def validate(cfg: DictConfig) -> None:
    a = cfg.auto
    k = cfg.target.num_references
    held = max(2, round(a.holdout * k))
    if not 0 < a.holdout < 1 or k - held < 4:
        raise UserError(f"auto.holdout = {a.holdout} of target.num_references = {k} leaves too few references to fit "
                        f"(at least 4 to fit and 2 to validate): add references or change auto.holdout")
    stride = cfg.mixing.stride
    if cfg.mixing.steps is not None or stride is None:
        raise UserError("experiment=auto needs the stride grid (mixing.steps=null): one inversion serves every t_M")
    bad = [t for t in a.t_M if t < stride or t % stride]
    if not a.t_M or bad:
        raise UserError(f"auto.t_M must be positive multiples of mixing.stride = {stride}, got {list(a.t_M)}")
    if not a.candidates:
        raise UserError("auto.candidates is empty: name at least one source (see unseen/conf/experiment/auto.yaml)")
    for name, overrides in a.candidates.items():
        if any("=" not in o for o in overrides):
            raise UserError(f"auto.candidates.{name} must be a list of key=value overrides, got {list(overrides)}")
    if a.count < 2:
        raise UserError(f"auto.count must be >= 2 (diversity needs pairs), got {a.count}")


def chamfer(a: torch.Tensor, b: torch.Tensor) -> float:
    from unseen.evaluate import nearest_distances

    return float((nearest_distances(a, b).mean() + nearest_distances(b, a).mean()) / 2)


def split(k: int, holdout: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the fitting and the validation references (a seeded permutation)."""
    order = torch.randperm(k, generator=torch.Generator().manual_seed(seed + 7919))
    held = max(2, round(holdout * k))
    return order[held:].sort().values, order[:held].sort().values


def choose(cfg: DictConfig, predictor: ddim.NoisePredictor, refs: torch.Tensor, latents_at, unet) -> tuple[dict, dict]:
    """The winning candidate's overrides (with ``mixing.t_M``) and the ``auto`` section of metrics.json.

    ``latents_at(t)`` gives the K references' latents at t (from the one inversion); ``unet`` the feature network
    of the middle block."""
    from unseen.evaluate import mean_pairwise_distance, memorisation, nearest_distances
    from unseen.pipeline import Stages, draw_latents

    a = cfg.auto
    fit, val = split(len(refs), a.holdout, cfg.seed)
    fit_images, val_images = refs[fit], refs[val]
    fit_features, val_features = unet(fit_images), unet(val_images)
    baseline = chamfer(fit_features, val_features)
    val_diversity = mean_pairwise_distance(val_features)
    val_pixel_diversity = mean_pairwise_distance(val_images)
    ref_nn = nearest_distances(fit_features, fit_features, exclude_self=True).mean()
    rows, started = [], time.perf_counter()
    for t in sorted(a.t_M):
        z_fit = latents_at(t)[fit]
        grid = ddim.stride_grid(t, cfg.mixing.stride)
        for name, overrides in a.candidates.items():
            cand = apply(cfg, [*overrides, f"mixing.t_M={t}", f"sampler.count={a.count}"])
            drawn: list[torch.Tensor] = []
            evals = predictor.evaluations
            try:
                draw_latents(cand, z_fit, Stages(), {}, drawn.append)
            except UserError as err:  # e.g. too few fitting references for a pca prior: not a candidate here
                rows.append({"candidate": name, "t_M": t, "score": float("inf"), "error": str(err)})
                continue
            z = torch.cat(drawn).reshape(-1, *refs.shape[1:])
            samples = ddim.generate(predictor, z, grid, clip_x0=cand.sampler.clip_x0).float()
            features = unet(samples)
            pixel_memorised = memorisation(samples, fit_images)["fraction_below_0.5"]
            feature_memorised = float((nearest_distances(features, fit_features) / ref_nn < 0.5).double().mean())
            memorised = pixel_memorised
            # Collapse in either space: the UNet's pooled features miss what pixels show (slerp at a small t_M on
            # smileys: feature diversity fine, pixel diversity 0.73 of the domain's).
            feature_diversity = mean_pairwise_distance(features) / val_diversity
            pixel_diversity = mean_pairwise_distance(samples) / val_pixel_diversity
            diversity = min(feature_diversity, pixel_diversity)
            fidelity = chamfer(features, val_features) / baseline
            score = (fidelity + a.penalty * max(0.0, memorised - a.max_memorised)
                     + a.penalty * max(0.0, a.min_diversity - diversity))
            rows.append({"candidate": name, "t_M": t, "score": score, "chamfer_ratio": fidelity,
                         "memorised_pixel": pixel_memorised, "memorised_feature": feature_memorised,
                         "diversity_feature": feature_diversity, "diversity_pixel": pixel_diversity,
                         "unet_evaluations": predictor.evaluations - evals})
            log.info("auto: t_M %d %-14s score %.3f (chamfer %.3f, memorised %.2f, diversity %.2f)", t, name, score,
                     fidelity, memorised, diversity)
    best = min(rows, key=lambda r: r["score"])
    if best["score"] == float("inf"):
        raise UserError("experiment=auto: no candidate could run on these references: " + rows[0]["error"])
    section = {"chosen": {"candidate": best["candidate"], "t_M": best["t_M"]}, "candidates": rows,
               "fitting_references": len(fit), "validation_references": len(val), "samples_per_candidate": a.count,
               "feature": "unet", "seconds": round(time.perf_counter() - started, 3),
               "unet_evaluations": sum(r.get("unet_evaluations", 0) for r in rows)}
    return {"overrides": [*a.candidates[best["candidate"]], f"mixing.t_M={best['t_M']}"]}, section
