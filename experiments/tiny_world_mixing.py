"""The mixing-step trade-off on the tiny world: target rate by t_M x prior variance x geometry mode.

    python -m experiments.tiny_world_mixing                     # smileys and crosses, 32 samples a cell (~20 min)
    python -m experiments.tiny_world_mixing --targets smileys --t-m 200 300 --count 32

Every cell is a run of the pipeline (``unseen.run``, as the command line runs it) with the paper's single-Gaussian
priors; the inversion cache walks each target's references once to the largest t_M (every t_M lies on the
stride grid) and every other cell reads it. The built-in classifier says which domain each sample is.
Baselines: the disk model's own samples (``sampler=id``), and ``replay`` (the references' own latents:
reconstruction, the upper bound).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/tiny_world_mixing.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import get_field, parser, publish, run_study

PRIORS = {"scalar": ["prior=scalar"], "residual": ["prior=residual"], "diagonal": ["prior=diagonal"],
          "pca16": ["prior=pca", "prior.components=16"]}


def main(argv=None) -> None:
    p = parser(__doc__)
    p.set_defaults(count=32)
    p.add_argument("--targets", nargs="+", default=["smileys", "crosses"])
    p.add_argument("--t-m", nargs="+", type=int, default=[200, 300, 400, 500, 700])
    p.add_argument("--modes", nargs="+", default=["none", "reject"])
    args = p.parse_args(argv)
    rows = []
    for target in args.targets:
        rows.append(({"target": target, "t_M": 999, "prior": "-", "mode": "own samples"},
                     [f"target={target}", "sampler=id", "mixing.reconstruct=0"]))
        for t in args.t_m:
            base = [f"target={target}", f"mixing.t_M={t}", "mixing.reconstruct=0"]
            rows.append(({"target": target, "t_M": t, "prior": "-", "mode": "replay"},
                         [*base[:2], "sampler=replay", "mixing.reconstruct=16"]))
            rows += [({"target": target, "t_M": t, "prior": name, "mode": mode}, [*base, *o, f"geometry={mode}"])
                     for name, o in PRIORS.items() for mode in args.modes]
    results = run_study("tiny_world_mixing", rows, args,
                        on_metrics=lambda label, m: {"psnr": get_field(m, "reconstruction_psnr")})
    publish("tiny_world_mixing", args, results, table(results, args))


def table(rows: list[dict], args) -> str:
    lines = [f"Target-domain rate of {args.count} samples (built-in classifier), K = 64 references, bandwidth 1.0 "
             f"for reject (acceptance in brackets); 'x' = reject could not fill the count in 20000 candidates.\n"]
    for target in args.targets:
        lines += [f"\n### {target}\n", "| prior / mode | " + " | ".join(f"t_M {t}" for t in args.t_m) + " |",
                  "|---" * (len(args.t_m) + 1) + "|"]
        for p, m in [("-", "replay")] + [(p, m) for p in PRIORS for m in args.modes]:
            cells = [_cell(next((r for r in rows if (r["target"], r["t_M"], r["prior"], r["mode"]) == (target, t, p, m)),
                                None)) for t in args.t_m]
            lines.append(f"| {p} / {m} | " + " | ".join(cells) + " |")
        own = next(r for r in rows if r["target"] == target and r["mode"] == "own samples")
        lines.append(f"\nThe disk model's own samples are {target} {own['target_rate']:.2f} of the time "
                     f"[{own['rate_low']:.2f}, {own['rate_high']:.2f}].")
        recon = {r["t_M"]: r["psnr"] for r in rows if r["target"] == target and r["mode"] == "replay"}
        lines.append("Reconstruction PSNR of 16 references: " + ", ".join(f"t_M {t}: {v:.1f} dB"
                                                                          for t, v in recon.items()) + ".")
    return "\n".join(lines) + "\n"


def _cell(r: dict | None) -> str:
    if r is None:
        return ""
    if "error" in r:
        return "x"
    rate = f"{r['target_rate']:.2f}"
    return f"{rate} (acc {r['acceptance']:.2f})" if r["mode"] == "reject" else rate


if __name__ == "__main__":
    main()
