"""What a run scores with and what it scores: the feature networks made before the work (``scorers``: a wrong
choice fails in seconds), the few-shot clusters, and ``score``, every section of metrics.json about the samples
(memorisation, diversity, grain, spectrum, redraws, FID/KID, precision/recall, the few-shot measures, the judge's
rates, the new-member goals), each with the counts it used."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from unseen.data import Target, batches, check_held_out
from unseen.errors import UserError
from unseen.evaluation import distances, features, fewshot, fid, goals, grain, scorer
from unseen.evaluation.intervals import wilson_interval
from unseen.evaluation.redraw import redraws
from unseen.evaluation.redraw import to_space as to_redraw_space
from unseen.evaluation.spectrum import band_energy, band_ratios
from unseen.models.loading import LoadedModel
from unseen.specs import Config, EvalConfig

log = logging.getLogger("unseen")


@dataclass
class Scorers:
    """The feature networks the scores need: ``net`` for FID/KID (None for eval.feature=none), ``unet`` the
    model's middle block for memorisation (None when off)."""

    net: features.FeatureNetwork | None
    unet: features.FeatureNetwork | None
    lpips: fewshot.Pairwise | None = None  # LPIPS between images, for the few-shot measures


def scorers(e: EvalConfig, target: Target, model: LoadedModel, device: torch.device) -> Scorers:
    """Made before the work, so a wrong choice fails in seconds."""
    net = None
    if e.feature != "none":
        check_held_out(len(target.eval_images), scoring=True)
        net = features.feature_network(e.feature, device, e.inception_weights, model.unet, model.identity,
                                       model.space, model.conditioning)
        if net.resolution is not None and net.resolution != model.resolution:
            raise UserError(f"eval.feature={e.feature} is meant for {net.resolution} px images, but this model makes "
                            f"{model.resolution} px images: use eval=inception or eval=unet (or eval=none)")
    unet = None
    if e.unet_memorisation:
        unet = net if e.feature == "unet" else features.feature_network("unet", device, None, model.unet,
                                                                        model.identity, model.space, model.conditioning)
    weights = fewshot.check_lpips(e)
    if weights is None and e.lpips is None:
        log.info("LPIPS: no %s found (eval.lpips_weights): the few-shot measures are in the %s space only",
                 fewshot.ALEXNET_FILE, e.feature)
    return Scorers(net, unet, fewshot.lpips_pairwise(weights, device) if weights else None)


def clusters(cfg: Config, target: Target, sc: Scorers) -> list[fewshot.Clusters]:
    """The few-shot clusters the samples are assigned to: in the feature space, and in LPIPS where it is on."""
    out = []
    if sc.net is not None:
        out.append(fewshot.Clusters(sc.net(target.images), fewshot.euclidean, cfg.eval.feature, cfg.eval.per_cluster))
    if sc.lpips is not None:
        out.append(fewshot.Clusters(target.images, sc.lpips, "lpips", cfg.eval.per_cluster))
    return out


def score(cfg: Config, scores: scorer.SampleScores, target: Target, sc: Scorers) -> dict:
    """Every score of the samples, each with the counts it used (``scores``: taken as they were made)."""
    first, refs, e = scores.first, target.images, cfg.eval
    held = scorer.first_images(target.eval_images, len(first))
    out = {"memorisation": distances.memorisation_from(torch.cat(scores.nearest), refs),
           "diversity": {"pixel": distances.mean_pairwise_distance(first), "pixel_count": len(first),
                         "count": scores.count}}
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
        mem["unet"] = {"space": "unet", **distances.feature_memorisation(
            torch.cat(scores.unet_features), sc.unet(refs), sc.unet(held) if len(held) else None)}
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
