"""The one-screen summary printed at the end of a run."""

from __future__ import annotations


def summary(metrics: dict, output_dir: str) -> str:
    lines = [f"unseen: {metrics['model']} -> {metrics['target']}  (source {metrics['source']}, t_M {metrics['t_M']}, "
             f"{metrics['inversion_steps']} inversion / {metrics['generation_steps'] - 1} generation steps, "
             f"seed {metrics['seed']}, {metrics['device']})"]
    if "reconstruction_psnr" in metrics:
        rec = metrics["reconstruction_psnr"]
        lines.append(f"  reconstruction PSNR at t_M   {rec['mean']:.2f} dB mean, {rec['min']:.2f} dB min "
                     f"over {rec['count']} references")
    if "prior" in metrics:
        p = metrics["prior"]
        extra = f", {p['components']} components explain {p['explained_variance']:.0%}" if "components" in p else ""
        lines.append(f"  prior                        {p['kind']}: |mean| {p['mean_norm']:.1f}, "
                     f"std {p['std_mean']:.3f}{extra}")
    if "geometry" in metrics:
        g = metrics["geometry"]
        lines.append(f"  geometry                     {g['mode']} at bandwidth {g['bandwidth']}: accepted "
                     f"{g['accepted']} of {g['candidates']} ({g['acceptance_rate']:.1%})")
    if "domain_rates" in metrics:
        d = metrics["domain_rates"]
        top = sorted(d["rates"].items(), key=lambda kv: -kv[1])
        lines.append(f"  classifier: {d['target']:<16} {d['target_rate']:.1%} of {d['count']} samples  ("
                     + ", ".join(f"{k} {v:.0%}" for k, v in top if v > 0) + ")")
    if "fid_kid" in metrics:
        f = metrics["fid_kid"]
        lines.append(f"  FID / KID ({f['feature']} features)   {f['fid']:.2f} / {f['kid']:.4f} +- {f['kid_std']:.4f}  "
                     f"({f['num_fake']} samples vs {f['num_real']} held-out images, KID subsets of "
                     f"{f['kid_subset_size']})")
    if "memorisation" in metrics:
        m, d = metrics["memorisation"], metrics["diversity"]
        feature = f", feature {d['feature']:.2f}" if "feature" in d else ""
        lines.append(f"  memorisation                 NN ratio {m['mean_ratio']:.2f} mean, "
                     f"{m['fraction_below_0.5']:.0%} below 0.5;  diversity: pixel {d['pixel']:.2f}{feature}")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in metrics["seconds"].items())
    evals = sum(metrics["unet_evaluations"].values())
    lines.append(f"  time                         {metrics['total_seconds']:.1f}s ({stages}); {evals:,} UNet "
                 f"evaluations")
    lines.append(f"  results                      {output_dir}")
    return "\n".join(lines)
