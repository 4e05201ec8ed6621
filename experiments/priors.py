"""Goal 1: priors that keep draws on the references' manifold, on varied and aligned tiny-world targets.

    python -m experiments.priors                         # 5 targets x 9 settings, 128 samples each (~15 min)
    python -m experiments.priors --targets squares --count 256

Rows per target: the baselines at the defaults (`slerp`, the `residual` prior at t_M 300), `pca`, and the new
`mixture` prior (a Gaussian at each reference latent; bandwidth in units of the references' residual std),
without and with declared symmetries (shift, mirror, hue).
The goal (common.meets_goal): the target rate's Wilson 95% lower bound >= 0.9, memorisation (fraction of samples
nearer a reference than half the references' own nearest-neighbour distance) <= 0.1 in pixel and feature space,
and a diversity ratio in [0.9, 1.3] in both (above 1.3: samples spread past the domain).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/priors.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import (
    GOAL_DIVERSITY,
    GOAL_MEMORISED,
    GOAL_RATE,
    bar_figure,
    markdown,
    meets_goal,
    parser,
    publish,
    read_rows,
    run_study,
    target_overrides,
)

SYM = "prior.symmetries=[shift,hflip,hue]"
SETTINGS = [
    ("slerp t300", ["sampler=slerp", "mixing.t_M=300"]),
    ("slerp t400", ["sampler=slerp", "mixing.t_M=400"]),
    ("residual t300", ["prior=residual", "mixing.t_M=300"]),
    ("pca t200", ["prior=pca", "mixing.t_M=200"]),
    ("mixture bw0.5 t200", ["prior=mixture", "prior.bandwidth=0.5", "mixing.t_M=200"]),
    ("mixture bw1 t300", ["prior=mixture", "prior.bandwidth=1.0", "mixing.t_M=300"]),
    ("mixture+sym bw0 t200", ["prior=mixture", "prior.bandwidth=0.0", SYM, "mixing.t_M=200"]),
    ("mixture+sym bw0.5 t200", ["prior=mixture", "prior.bandwidth=0.5", SYM, "mixing.t_M=200"]),
    ("mixture+sym bw0.5 t300", ["prior=mixture", "prior.bandwidth=0.5", SYM, "mixing.t_M=300"]),
]
TARGETS = ["squares", "letters", "stripes", "smileys", "crosses"]


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.add_argument("--targets", nargs="+", default=TARGETS)
    args = p.parse_args(argv)
    if args.report:
        results = read_rows("priors", args)
    else:
        rows = [({"target": t, "setting": name}, [*target_overrides(t, args), "mixing.reconstruct=0", *o])
                for t in args.targets for name, o in SETTINGS]
        results = run_study("priors", rows, args)
    for r in results:
        r["meets_goal"] = meets_goal(r)
        r["label"] = f"{r['target']} {r['setting']}"
    cols = ["target", "setting", "target_rate", "memorised_pixel", "memorised_feature", "memorised_unet",
            "diversity_pixel", "diversity_feature", "fid", "precision", "recall", "meets_goal"]
    samples = int(results[0]["samples"]) if results and results[0].get("samples") else args.count
    publish("priors", args, results,
            f"{samples} samples per row, K = 64 references, the tiny world's disk DDPM. target_rate [Wilson 95%]; "
            f"memorised = fraction of samples nearer a reference than half the references' own NN distance; "
            f"diversity = samples' mean pairwise distance / held-out images'. meets_goal: the rate's Wilson lower "
            f"bound >= {GOAL_RATE}, memorised (pixel, feature) <= {GOAL_MEMORISED}, diversity (pixel, feature) in "
            f"[{GOAL_DIVERSITY[0]}, {GOAL_DIVERSITY[1]}].\n\n" + markdown(results, cols),
            lambda rows, path: bar_figure(rows, "label", ["target_rate", "memorised_pixel", "memorised_unet",
                                                          "diversity_pixel"], path, f"priors, {samples} samples each"))


if __name__ == "__main__":
    main()
