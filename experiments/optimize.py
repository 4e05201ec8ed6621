"""Goal 3: geometric optimisation (geometry=optimize) against rejection (geometry=reject) and no geometry.

    python -m experiments.optimize                      # smileys and squares, 128 samples a row (~6 min)

Per target and prior (the paper's `scalar`, our `residual`): the unmoved draws (mode none), rejection at
bandwidth 1, and optimisation at bandwidth 1. Reported beside the usual columns: acceptance, geometry seconds per
accepted sample, and how far optimize moved each draw over its distance to the nearest reference latent
(median). Memorisation must not rise against the unmoved draws.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/optimize.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import bar_figure, get_field, markdown, parser, publish, read_rows, run_study

MODES = [("none", ["geometry=none"]), ("reject bw 1", ["geometry=reject"]), ("optimize bw 1", ["geometry=optimize"]),
         ("reject bw 3", ["geometry=reject", "geometry.bandwidth=3"])]


def extra(label: dict, metrics: dict) -> dict:
    accepted = get_field(metrics, "accepted") or 0
    seconds = (get_field(metrics, "stage_seconds") or {}).get("geometry")
    return {"candidates": get_field(metrics, "candidates"),
            "geometry_s_per_sample": seconds / accepted if accepted and seconds is not None else None,
            "moved_median": get_field(metrics, "moved_median")}


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.add_argument("--targets", nargs="+", default=["smileys", "squares"])
    p.add_argument("--priors", nargs="+", default=["scalar", "residual"])
    args = p.parse_args(argv)
    if args.report:
        results = read_rows("optimize", args)
    else:
        rows = [({"target": t, "prior": pr, "mode": m}, [f"target={t}", f"prior={pr}", "mixing.reconstruct=0", *o])
                for t in args.targets for pr in args.priors for m, o in MODES]
        results = run_study("optimize", rows, args, on_metrics=extra)
    for r in results:
        r["label"] = f"{r['target']} {r['prior']} {r['mode']}"
    cols = ["target", "prior", "mode", "acceptance", "candidates", "geometry_s_per_sample", "moved_median",
            "target_rate", "fid", "diversity_pixel", "diversity_feature", "memorised_pixel", "memorised_feature",
            "memorised_unet", "error"]
    publish("optimize", args, results,
            f"{args.count} samples per row, t_M 300, K = 64. acceptance = accepted / candidates (reject stops at 20,000 "
            f"candidates); moved_median = median over kept draws of |moved| / |draw - nearest reference latent|.\n\n"
            + markdown(results, cols, {"geometry_s_per_sample": ".4f", "moved_median": ".2f", "candidates": "d"}),
            lambda rows, path: bar_figure(rows, "label", ["acceptance", "target_rate", "memorised_pixel",
                                                          "diversity_pixel"], path, "geometry: none / reject / optimize"))


if __name__ == "__main__":
    main()
