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
    if "auto" in metrics:
        a = metrics["auto"]
        ok = sorted((r for r in a["candidates"] if r["score"] != float("inf")), key=lambda r: r["score"])
        runner = f"; next: {ok[1]['candidate']} at t_M {ok[1]['t_M']} ({ok[1]['score']:.3f})" if len(ok) > 1 else ""
        lines.append(f"  auto                         chose {a['chosen']['candidate']} at t_M {a['chosen']['t_M']} "
                     f"(score {ok[0]['score']:.3f}) of {len(a['candidates'])} candidates{runner}; "
                     f"{a['fitting_references']} fitting / {a['validation_references']} validation references")
    if "prior" in metrics:
        p = metrics["prior"]
        extra = (f", {p['components']} components explain {p['explained_variance']:.0%}" if "explained_variance" in p
                 else f", {p['components']} components" if "components" in p else "")
        if p.get("symmetries"):
            extra += f", symmetries {'+'.join(p['symmetries'])}"
        lines.append(f"  prior                        {p['kind']}: |mean| {p['mean_norm']:.1f}, "
                     f"std {p['std_mean']:.3f}{extra}")
    if "geometry" in metrics:
        g = metrics["geometry"]
        lines.append(f"  geometry                     {g['mode']} at bandwidth {g['bandwidth']}: accepted "
                     f"{g['accepted']} of {g['candidates']} ({g['acceptance_rate']:.1%})")
    if "domain_rates" in metrics:
        d = metrics["domain_rates"]
        top = sorted(d["rates"].items(), key=lambda kv: -kv[1])
        low, high = d["interval_95"]
        lines.append(f"  classifier: {d['target']:<16} {d['target_rate']:.1%} of {d['count']} samples "
                     f"[95% {low:.0%}-{high:.0%}]  (" + ", ".join(f"{k} {v:.0%}" for k, v in top if v > 0) + ")")
    if "fid_kid" in metrics:
        f = metrics["fid_kid"]
        lines.append(f"  FID / KID ({f['feature']} features)   {f['fid']:.2f} / {f['kid']:.4f} +- {f['kid_std']:.4f}  "
                     f"({f['num_fake']} samples vs {f['num_real']} held-out images, KID subsets of "
                     f"{f['kid_subset_size']})")
    if "precision_recall" in metrics:
        pr = metrics["precision_recall"]
        lines.append(f"  precision / recall           {pr['precision']:.2f} / {pr['recall']:.2f}  (k = {pr['k']}, "
                     f"{pr['feature']} features)")
    if "memorisation" in metrics:
        m, d = metrics["memorisation"], metrics["diversity"]
        spaces = [("pixel", m)] + [(m[s]["space"], m[s]) for s in ("feature", "unet") if s in m]
        lines.append("  memorisation (< 0.5 NN)      " + ", ".join(
            f"{name} {x['fraction_below_0.5']:.0%}" + (f" (held-out {x['held_out_fraction_below_0.5']:.0%})"
                                                      if "held_out_fraction_below_0.5" in x else "")
            for name, x in spaces))
        ratios = [f"{s} {d[s + '_ratio']:.2f}" for s in ("pixel", "feature") if s + "_ratio" in d]
        lines.append("  diversity / held-out's       " + (", ".join(ratios) if ratios else
                                                          f"pixel {d['pixel']:.2f} (no held-out images)"))
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in metrics["seconds"].items())
    evals = sum(metrics["unet_evaluations"].values())
    lines.append(f"  time                         {metrics['total_seconds']:.1f}s ({stages}); {evals:,} UNet "
                 f"evaluations")
    lines.append(f"  results                      {output_dir}")
    return "\n".join(lines)
