"""The one-screen summary printed at the end of a run (read through the metrics schema, unseen.evaluation.metrics)."""

from __future__ import annotations

from unseen.evaluation.goals import verdict
from unseen.evaluation.metrics import get, unet_evaluations


def summary(metrics: dict, output_dir: str) -> str:
    m = metrics
    lines = [f"unseen: {get(m, 'model')} -> {get(m, 'target')}  (source {get(m, 'source')}, t_M {get(m, 't_M')}, "
             f"{get(m, 'inversion_steps')} inversion / {get(m, 'generation_steps') - 1} generation steps, "
             f"seed {get(m, 'seed')}, {get(m, 'device')})"]
    for section in (_reconstruction, _auto, _prior, _geometry, _rates, _fid, _precision, _memorisation, _fewshot,
                    _goals):
        lines += section(m)
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in get(m, "stage_seconds").items())
    ae = "" if get(m, "decoder_evaluations") is None else \
        f", {get(m, 'encoder_evaluations'):,} images encoded and {get(m, 'decoder_evaluations'):,} decoded"
    lines.append(f"  time                         {get(m, 'seconds'):.1f}s ({stages}); {unet_evaluations(m):,} UNet "
                 f"evaluations{ae}")
    lines.append(f"  results                      {output_dir}")
    return "\n".join(lines)


def _goals(m: dict) -> list[str]:
    if get(m, "goals") is None:
        return []
    return [f"  new-member goals             {verdict(get(m, 'goals'))} (unseen/evaluation/goals.py)"]


def _reconstruction(m: dict) -> list[str]:
    if get(m, "reconstruction_psnr") is None:
        return []
    floor = "" if get(m, "autoencoder_psnr") is None else \
        f" (the autoencoder's round trip alone: {get(m, 'autoencoder_psnr'):.2f} dB)"
    return [f"  reconstruction PSNR at t_M   {get(m, 'reconstruction_psnr'):.2f} dB mean, "
            f"{get(m, 'reconstruction_psnr_min'):.2f} dB min over {get(m, 'reconstruction_count')} references{floor}"]


def _auto(m: dict) -> list[str]:
    if get(m, "auto_chosen") is None:
        return []
    rows = get(m, "auto_candidates")
    ok = sorted((r for r in rows if r["score"] is not None and r["score"] != float("inf")), key=lambda r: r["score"])
    runner = f"; next: {ok[1]['candidate']} at t_M {ok[1]['t_M']} ({ok[1]['score']:.3f})" if len(ok) > 1 else ""
    return [f"  auto                         chose {get(m, 'auto_chosen')} at t_M {get(m, 'auto_t_M')} "
            f"(score {ok[0]['score']:.3f}) of {len(rows)} candidates{runner}; "
            f"{get(m, 'auto_fitting')} fitting / {get(m, 'auto_validation')} validation references"]


def _prior(m: dict) -> list[str]:
    if get(m, "prior_kind") is None:
        return []
    explained, components = get(m, "prior_explained"), get(m, "prior_components")
    extra = (f", {components} components explain {explained:.0%}" if explained is not None
             else f", {components} components" if components is not None else "")
    if get(m, "prior_symmetries"):
        extra += f", symmetries {'+'.join(get(m, 'prior_symmetries'))}"
    return [f"  prior                        {get(m, 'prior_kind')}: |mean| {get(m, 'prior_mean_norm'):.1f}, "
            f"std {get(m, 'prior_std'):.3f}{extra}"]


def _geometry(m: dict) -> list[str]:
    if get(m, "geometry_mode") is None:
        return []
    return [f"  geometry                     {get(m, 'geometry_mode')} at bandwidth {get(m, 'bandwidth')}: accepted "
            f"{get(m, 'accepted')} of {get(m, 'candidates')} ({get(m, 'acceptance'):.1%})"]


def _rates(m: dict) -> list[str]:
    if get(m, "target_rate") is None:
        return []
    top = sorted(get(m, "rates").items(), key=lambda kv: -kv[1])
    return [f"  classifier: {get(m, 'target_domain'):<16} {get(m, 'target_rate'):.1%} of {get(m, 'rate_count')} "
            f"samples [95% {get(m, 'rate_low'):.0%}-{get(m, 'rate_high'):.0%}]  ("
            + ", ".join(f"{k} {v:.0%}" for k, v in top if v > 0) + ")"]


def _fid(m: dict) -> list[str]:
    if get(m, "fid") is None:
        return []
    return [f"  FID / KID ({get(m, 'feature')} features)   {get(m, 'fid'):.2f} / {get(m, 'kid'):.4f} +- "
            f"{get(m, 'kid_std'):.4f}  ({get(m, 'num_fake')} samples vs {get(m, 'num_real')} held-out images, KID "
            f"subsets of {get(m, 'kid_subset_size')})"]


def _precision(m: dict) -> list[str]:
    if get(m, "precision") is None:
        return []
    return [f"  precision / recall           {get(m, 'precision'):.2f} / {get(m, 'recall'):.2f}  "
            f"(k = {get(m, 'pr_k')}, {get(m, 'feature')} features)"]


def _fewshot(m: dict) -> list[str]:
    lines = []
    for space, intra, std, copies in [(get(m, "fewshot_space"), "intra_cluster", "intra_cluster_std", "copies"),
                                      ("lpips", "intra_lpips", "intra_lpips_std", "copies_lpips")]:
        if get(m, intra) is not None:
            lines.append(f"  few-shot ({space})".ljust(31) + f"intra-cluster diversity {get(m, intra):.3f} +- "
                         f"{get(m, std):.3f}, nearest-reference copies {get(m, copies):.1%}")
    return lines


def _memorisation(m: dict) -> list[str]:
    if get(m, "memorised_pixel") is None:
        return []
    spaces = [("pixel", "memorised_pixel")] + [(get(m, f"memorised_{s}_space") if s == "feature" else s,
                                                f"memorised_{s}") for s in ("feature", "unet")
                                               if get(m, f"memorised_{s}") is not None]
    parts = []
    for label, name in spaces:
        held = get(m, name + "_held_out")
        parts.append(f"{label} {get(m, name):.0%}" + (f" (held-out {held:.0%})" if held is not None else ""))
    ratios = [f"{s} {get(m, 'diversity_' + s):.2f}" for s in ("pixel", "feature") if get(m, "diversity_" + s) is not None]
    redrawn = []
    if get(m, "redraw") is not None:
        held = get(m, "redraw_held_out")
        redrawn = [f"  redraws ({get(m, 'redraw_criterion')})".ljust(31) + f"{get(m, 'redraw'):.0%} of samples "
                   f"[95% {get(m, 'redraw_low'):.0%}-{get(m, 'redraw_high'):.0%}]"
                   + (f", held-out images {held:.0%} (the floor)" if held is not None else "")
                   + f"; median distance / limit {m['redraw']['median_ratio']:.2f}"
                   + (f" (held-out {m['redraw']['held_out_median_ratio']:.2f})" if held is not None else "")]
    lines = [*redrawn, "  memorisation (< 0.5 NN)      " + ", ".join(parts),
             "  diversity / held-out's       " + ", ".join(ratios) if ratios else
             f"  diversity (mean distance)    pixel {get(m, 'diversity_pixel_raw'):.2f} (no held-out images to compare "
             f"with: a distance, not a ratio)"]
    if get(m, "grain") is not None:
        lines.append(f"  grain / held-out's           {get(m, 'grain'):.2f} [95% {get(m, 'grain_low'):.2f}-"
                     f"{get(m, 'grain_high'):.2f}]  (mean |Laplacian|; 1 = as smooth as the real images)")
    if get(m, "band_worst") is not None:
        bands = m["spectrum"]["bands"]
        worst = bands[get(m, "band_worst_index")]["cycles_per_pixel"]
        lines.append("  spectrum / held-out's        " + ", ".join(f"{b['ratio']:.2f}" for b in bands)
                     + f"  (energy per octave, fine to coarse; worst {worst}"
                     f" cycles/px: {get(m, 'band_worst'):.2f} [95% {get(m, 'band_worst_low'):.2f}-"
                     f"{get(m, 'band_worst_high'):.2f}])")
    return lines
