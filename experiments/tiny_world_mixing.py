"""The mixing-step trade-off on the tiny world: target rate by t_M x prior variance x geometry mode.

    python experiments/tiny_world_mixing.py                     # smileys and crosses, writes results/
    python experiments/tiny_world_mixing.py --targets smileys --t-m 200 300 --count 32

For each target, the K references are inverted ONCE to the largest t_M on a fixed-stride grid
(every t_M of the study lies on it), and each cell draws `count` latents at its t_M and
denoises them on the same grid. The built-in classifier says which domain each sample is.
Baselines: the disk model's own samples (pure noise at T-1), and `replay` (the references'
own latents: reconstruction, the upper bound).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from unseen import ddim
from unseen.errors import GeometryRejectError
from unseen.geometry import geometry_targets
from unseen.models import load_model
from unseen.images import image_grid, psnr
from unseen.prior import fit_prior
from unseen.sources import batch_generator, replay_latents, select_prior_draws
from unseen.world.classifier import load_classifier
from unseen.world.domains import sample
from unseen.world.evaluate import own_samples

HERE = Path(__file__).resolve().parent
PRIORS = {"scalar": dict(variance="scalar"), "residual": dict(variance="residual"),
          "diagonal": dict(variance="diagonal"), "pca16": dict(variance="pca", components=16)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", nargs="+", default=["smileys", "crosses"])
    parser.add_argument("--t-m", nargs="+", type=int, default=[200, 300, 400, 500, 700])
    parser.add_argument("--stride", type=int, default=10, help="grid stride: t_M / stride DDIM steps")
    parser.add_argument("--priors", nargs="+", default=list(PRIORS))
    parser.add_argument("--modes", nargs="+", default=["none", "reject"])
    parser.add_argument("--bandwidth", type=float, default=1.0)
    parser.add_argument("--references", type=int, default=64)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--model", default="builtin:tiny_ddpm")
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from unseen.cli import wire

    wire()  # the tiny world's plug-ins: builtin:tiny_ddpm
    model = load_model(args.model)
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=128)
    classifier = load_classifier()
    rows = []
    own = classifier.domain_rates(own_samples(predictor, args.count, seed=0))
    for target in args.targets:
        rows.append(dict(target=target, t_M=999, prior="-", mode="own samples", target_rate=own[target],
                         acceptance=1.0, rates=json.dumps(own)))
    print(f"own samples of the model: {own}", flush=True)
    for target in args.targets:
        refs = sample(target, args.references, seed=0)
        grid = ddim.stride_grid(max(args.t_m), args.stride)
        start = time.time()
        trajectory = ddim.invert(predictor, refs, grid, progress=True)
        print(f"{target}: inverted {len(refs)} references to {grid[-1]} in {time.time() - start:.0f}s", flush=True)
        panels = []
        for t_m in args.t_m:
            sub = ddim.stride_grid(t_m, args.stride)
            latents = trajectory[len(sub) - 1]
            recon = ddim.generate(predictor, latents[:16], sub)
            rec_psnr = float(psnr(recon, refs[:16]).mean())
            replay = ddim.generate(predictor, replay_latents(latents, args.count).reshape(-1, *refs.shape[1:]), sub)
            rates = classifier.domain_rates(replay)
            rows.append(dict(target=target, t_M=t_m, prior="-", mode="replay", target_rate=rates[target],
                             acceptance=1.0, psnr=rec_psnr, rates=json.dumps(rates)))
            targets = geometry_targets(latents, 10, batch_generator(0, "geometry", 0))
            for prior_name in args.priors:
                prior = fit_prior(latents, **PRIORS[prior_name])
                for mode in args.modes:
                    try:
                        sel = select_prior_draws(prior, latents, targets, args.count, mode=mode,
                                                 bandwidth=args.bandwidth, subset_size=10, seed=0)
                    except GeometryRejectError as err:
                        rows.append(dict(target=target, t_M=t_m, prior=prior_name, mode=mode, target_rate=float("nan"),
                                         acceptance=0.0, note=str(err).split(":")[0]))
                        print(f"  {target} t_M={t_m} {prior_name} {mode}: {err}", flush=True)
                        continue
                    samples = ddim.generate(predictor, sel.latents.reshape(-1, *refs.shape[1:]), sub)
                    rates = classifier.domain_rates(samples)
                    rows.append(dict(target=target, t_M=t_m, prior=prior_name, mode=mode, target_rate=rates[target],
                                     acceptance=sel.acceptance_rate, psnr=rec_psnr, rates=json.dumps(rates)))
                    print(f"  {target} t_M={t_m} {prior_name:8s} {mode:6s}: {target} {rates[target]:.2f} "
                          f"(accept {sel.acceptance_rate:.3f}, recon {rec_psnr:.1f} dB)", flush=True)
                    if mode == "none" and prior_name == "pca16":
                        panels.append(samples[:16])
        image_grid([refs[:16]] + panels, columns=16).save(out / f"tiny_world_{target}_pca16.png")
    fields = ["target", "t_M", "prior", "mode", "target_rate", "acceptance", "psnr", "note", "rates"]
    with open(out / "tiny_world_mixing.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (out / "tiny_world_mixing.md").write_text(table(rows, args))
    print(table(rows, args))


def table(rows: list[dict], args) -> str:
    lines = [f"Target-domain rate of {args.count} samples (built-in classifier), K = {args.references} references, "
             f"bandwidth {args.bandwidth} for reject; 'x' = reject could not fill the count in 20000 candidates.\n"]
    for target in args.targets:
        lines.append(f"\n### {target}\n")
        lines.append("| prior / mode | " + " | ".join(f"t_M {t}" for t in args.t_m) + " |")
        lines.append("|---" * (len(args.t_m) + 1) + "|")
        keys = [("-", "replay")] + [(p, m) for p in args.priors for m in args.modes]
        for p, m in keys:
            cells = []
            for t in args.t_m:
                r = next((r for r in rows if r["target"] == target and r["t_M"] == t and r["prior"] == p
                          and r["mode"] == m), None)
                if r is None:
                    cells.append("")
                elif r["target_rate"] != r["target_rate"]:
                    cells.append("x")
                elif m == "reject":
                    cells.append(f"{r['target_rate']:.2f} (acc {r['acceptance']:.2f})")
                else:
                    cells.append(f"{r['target_rate']:.2f}")
            lines.append(f"| {p} / {m} | " + " | ".join(cells) + " |")
        own = next(r for r in rows if r["target"] == target and r["mode"] == "own samples")
        lines.append(f"\nThe disk model's own samples are {target} {own['target_rate']:.2f} of the time.")
        recon = {r["t_M"]: r["psnr"] for r in rows if r["target"] == target and r["mode"] == "replay"}
        lines.append("Reconstruction PSNR of 16 references: " + ", ".join(f"t_M {t}: {v:.1f} dB"
                                                                          for t, v in recon.items()) + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
