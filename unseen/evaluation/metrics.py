"""The one schema of metrics.json: every field a reader uses (the summary, sweeps, W&B, the studies) has a
name here and one path into the nested dict. Readers ask ``get(metrics, NAME)``: an unknown name is a
KeyError at once, and tests/test_end_to_end.py checks that a real run writes every field, so a renamed key
fails a test instead of turning into a silent None in a sweep table.
"""

from __future__ import annotations

from typing import Any

# name -> path (keys, and list indices) in metrics.json
FIELDS: dict[str, tuple] = {
    "model": ("model",),
    "target": ("target",),
    "source": ("source",),
    "t_M": ("t_M",),
    "seed": ("seed",),
    "device": ("device",),
    "inversion_steps": ("inversion_steps",),
    "generation_steps": ("generation_steps",),
    "num_references": ("num_references",),
    "samples": ("samples", "count"),
    "reconstruction_psnr": ("reconstruction_psnr", "mean"),
    "reconstruction_psnr_min": ("reconstruction_psnr", "min"),
    "reconstruction_count": ("reconstruction_psnr", "count"),
    "target_domain": ("domain_rates", "target"),
    "target_rate": ("domain_rates", "target_rate"),
    "target_count": ("domain_rates", "target_count"),
    "rate_low": ("domain_rates", "interval_95", 0),
    "rate_high": ("domain_rates", "interval_95", 1),
    "rates": ("domain_rates", "rates"),
    "rate_count": ("domain_rates", "count"),
    "feature": ("fid_kid", "feature"),
    "fid": ("fid_kid", "fid"),
    "kid": ("fid_kid", "kid"),
    "kid_std": ("fid_kid", "kid_std"),
    "kid_subset_size": ("fid_kid", "kid_subset_size"),
    "num_real": ("fid_kid", "num_real"),
    "num_fake": ("fid_kid", "num_fake"),
    "precision": ("precision_recall", "precision"),
    "recall": ("precision_recall", "recall"),
    "pr_k": ("precision_recall", "k"),
    "diversity_pixel_raw": ("diversity", "pixel"),
    "diversity_pixel": ("diversity", "pixel_ratio"),
    "diversity_feature": ("diversity", "feature_ratio"),
    "memorised_pixel": ("memorisation", "fraction_below_0.5"),
    "memorised_pixel_held_out": ("memorisation", "held_out_fraction_below_0.5"),
    "memorised_feature": ("memorisation", "feature", "fraction_below_0.5"),
    "memorised_feature_held_out": ("memorisation", "feature", "held_out_fraction_below_0.5"),
    "memorised_feature_space": ("memorisation", "feature", "space"),
    "memorised_unet": ("memorisation", "unet", "fraction_below_0.5"),
    "memorised_unet_held_out": ("memorisation", "unet", "held_out_fraction_below_0.5"),
    "intra_cluster": ("fewshot", "feature", "intra_cluster_diversity"),
    "intra_cluster_std": ("fewshot", "feature", "intra_cluster_diversity_std"),
    "intra_cluster_each": ("fewshot", "feature", "cluster_diversity"),
    "copies": ("fewshot", "feature", "copies"),
    "fewshot_space": ("fewshot", "feature", "space"),
    "intra_lpips": ("fewshot", "lpips", "intra_cluster_diversity"),
    "intra_lpips_std": ("fewshot", "lpips", "intra_cluster_diversity_std"),
    "copies_lpips": ("fewshot", "lpips", "copies"),
    "grain": ("grain", "ratio"),
    "grain_low": ("grain", "interval_95", 0),
    "grain_high": ("grain", "interval_95", 1),
    "redraw": ("redraw", "fraction"),
    "redraw_low": ("redraw", "interval_95", 0),
    "redraw_high": ("redraw", "interval_95", 1),
    "redraw_held_out": ("redraw", "held_out_fraction"),
    "redraw_criterion": ("redraw", "criterion"),
    "goals": ("goals",),
    "band_worst": ("spectrum", "worst_ratio"),
    "band_worst_low": ("spectrum", "worst_interval_95", 0),
    "band_worst_high": ("spectrum", "worst_interval_95", 1),
    "band_worst_index": ("spectrum", "worst_band"),
    "prior_kind": ("prior", "kind"),
    "prior_mean_norm": ("prior", "mean_norm"),
    "prior_std": ("prior", "std_mean"),
    "prior_components": ("prior", "components"),
    "prior_explained": ("prior", "explained_variance"),
    "prior_symmetries": ("prior", "symmetries"),
    "signal_scale": ("prior", "signal_scale"),
    "start_t": ("match_noise", "start_t"),
    "geometry_mode": ("geometry", "mode"),
    "bandwidth": ("geometry", "bandwidth"),
    "candidates": ("geometry", "candidates"),
    "accepted": ("geometry", "accepted"),
    "acceptance": ("geometry", "acceptance_rate"),
    "moved_median": ("geometry", "moved_over_nearest", "median"),
    "auto_chosen": ("auto", "chosen", "candidate"),
    "auto_t_M": ("auto", "chosen", "t_M"),
    "auto_candidates": ("auto", "candidates"),
    "auto_fitting": ("auto", "fitting_references"),
    "auto_validation": ("auto", "validation_references"),
    "auto_evaluations": ("auto", "cost", "unet_evaluations"),
    "auto_plain_evaluations": ("auto", "cost", "plain_run_unet_evaluations"),
    "auto_cost_ratio": ("auto", "cost", "ratio"),
    "seconds": ("total_seconds",),
    "stage_seconds": ("seconds",),
    "stage_unet_evaluations": ("unet_evaluations",),
    "model_kind": ("model_kind",),
    "condition": ("condition",),
    "guidance": ("guidance",),
    "encoder_evaluations": ("autoencoder_evaluations", "encoder"),
    "decoder_evaluations": ("autoencoder_evaluations", "decoder"),
    "autoencoder_psnr": ("reconstruction_psnr", "autoencoder_round_trip", "mean"),
}
# Written only by some runs: auto by experiment=auto, moved_median by geometry=optimize, the prior's extras by
# pca / mixture / symmetries, start_t by sampler.match_noise, the condition and guidance by conditional models, the
# autoencoder's by latent models; the rest by every run with a prior source, a scorer and reconstruction.
OPTIONAL = {"auto_chosen", "auto_t_M", "auto_candidates", "auto_fitting", "auto_validation", "auto_evaluations",
            "auto_plain_evaluations", "auto_cost_ratio", "moved_median",
            "prior_explained", "prior_components", "prior_symmetries", "intra_lpips", "intra_lpips_std",
            "copies_lpips", "signal_scale", "start_t", "condition", "guidance", "encoder_evaluations",
            "decoder_evaluations", "autoencoder_psnr"}


def get(metrics: dict, name: str, default: Any = None) -> Any:
    """The field ``name`` of ``metrics``, or ``default`` where this run did not write it."""
    node: Any = metrics
    for part in FIELDS[name]:
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return default
    return node


def unet_evaluations(metrics: dict) -> int:
    """UNet evaluations of every stage together."""
    return sum((get(metrics, "stage_unet_evaluations") or {}).values())


def flatten(d: dict, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested metrics as {"a.b.c": value} (the sweep table's and W&B's columns); lists are left out."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + sep, sep))
        elif not isinstance(v, list):
            out[key] = v
    return out


def column(name: str, sep: str = ".") -> str:
    """The flattened column of a field (lists are not flattened, so neither are fields inside them)."""
    path = FIELDS[name]
    if any(isinstance(p, int) for p in path):
        raise KeyError(f"{name} lies inside a list: read it with get()")
    return sep.join(path)
