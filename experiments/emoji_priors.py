"""The priors study on the emoji world (issue 14): which latent source keeps faces and flags without copying them.

    python -m experiments.emoji_priors --part 0/2 &  python -m experiments.emoji_priors --part 1/2 &  # then
    python -m experiments.emoji_priors          # the table, from the rows both processes left in the cache
    python -m experiments.emoji_priors --report # re-render it from the committed CSV

The tiny world's priors study (experiments/priors.py) asked which prior keeps varied shapes; here the question is
the emoji world's: at the t_M where faces keep their domain (300) flags copy their references, and where flags
stop copying (500) both lose their domain (experiments/emoji.py). Each row is one prior at a fixed t_M (no
choice by auto), from `emoji_ddpm`: the paper's two sources (slerp between two references; one Gaussian with the
references' residual variance), pca, the mixture at bandwidth 1 (the default) and 2 (wider), and the mixture with
declared symmetries (hue alone: a flag recoloured is another flag's palette; shift, mirror and hue: auto's
`mixture_sym`); which of them each category and K runs is PLAN. The disk model's rows are the emoji study's.
Scored as in the emoji study (emoji.py's columns and goals).
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/emoji_priors.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import bar_figure, markdown, parser, publish, read_rows, run_study
from experiments.emoji import COLUMNS, LEGEND, emoji_columns, emoji_goal

SETTINGS = [
    ("slerp t300", ["sampler=slerp", "mixing.t_M=300"]),
    ("residual t300", ["prior=residual", "mixing.t_M=300"]),
    ("pca t300", ["prior=pca", "mixing.t_M=300"]),
    ("mixture bw1 t300", ["prior=mixture", "mixing.t_M=300"]),
    ("mixture bw2 t300", ["prior=mixture", "prior.bandwidth=2.0", "mixing.t_M=300"]),
    ("mixture bw2 t400", ["prior=mixture", "prior.bandwidth=2.0", "mixing.t_M=400"]),
    ("mixture+hue bw1 t300", ["prior=mixture", "prior.symmetries=[hue]", "mixing.t_M=300"]),
    ("mixture+hue bw1 t400", ["prior=mixture", "prior.symmetries=[hue]", "mixing.t_M=400"]),
    ("mixture+sym bw0.5 t400", ["prior=mixture", "prior.bandwidth=0.5", "prior.symmetries=[shift,hflip,hue]",
                                "mixing.t_M=400"]),
]
# Which settings each (category, K) runs: on 2 CPU cores a row took 3-7 minutes, so not the full grid. What the
# emoji study already shows is not rerun (faces lose their domain at t_M 400-500; flags' mixture at t_M 300 is
# its row "fixed t_M 300": 89% copies); the rest asks whether a wider bandwidth or a declared hue symmetry
# breaks flags' copies before the flag goes, and whether a wider mixture spreads faces to the held-out faces'
# pixel diversity.
PLAN = {
    ("faces", 64): ["slerp t300", "residual t300", "pca t300", "mixture bw1 t300", "mixture bw2 t300"],
    ("flags", 64): ["slerp t300", "residual t300", "mixture bw2 t300", "mixture bw2 t400", "mixture+hue bw1 t300",
                    "mixture+hue bw1 t400", "mixture+sym bw0.5 t400"],
    ("faces", 10): ["slerp t300", "mixture bw2 t300"],
    ("flags", 10): ["mixture bw2 t400", "mixture+hue bw1 t400"],
}
CATEGORIES = ["faces", "flags"]


def rows_for(category: str, k: int) -> list[tuple[dict, list[str]]]:
    target = ["target=emoji", f"target.category={category}", f"target.num_references={k}", "mixing.reconstruct=0",
              "auto.enabled=false"]
    settings = dict(SETTINGS)
    return [({"category": category, "K": k, "setting": name}, ["model=emoji_ddpm", *target, *settings[name]])
            for name in PLAN.get((category, k), [])]


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.set_defaults(count=256)
    p.add_argument("--categories", nargs="+", default=CATEGORIES)
    p.add_argument("--K", nargs="+", type=int, default=[64, 10])
    p.add_argument("--part", default="0/1", help="i/n: run only every n-th row from the i-th (rows are cached)")
    args = p.parse_args(argv)
    if args.report:
        results = read_rows("emoji_priors", args)
    else:
        part, parts = map(int, args.part.split("/"))
        rows = [r for c in args.categories for k in args.K for r in rows_for(c, k)][part::parts]
        results = run_study("emoji_priors", rows, args, on_metrics=emoji_columns)
        if parts > 1:
            return
    for r in results:
        r["meets_goal"] = emoji_goal(r)
        r["label"] = f"{r['category']} K{int(float(r['K']))} {r['setting']}"
    count = int(results[0]["samples"]) if results and results[0].get("samples") else args.count
    publish("emoji_priors", args, results,
            f"{count} samples per row; t_M fixed per row (auto off); {LEGEND}\n\n"
            + markdown(results, ["category", "K", "setting", *COLUMNS, "unet_evaluations", "meets_goal"]),
            lambda rs, path: bar_figure(rs, "label", ["target_rate", "memorised_pixel", "diversity_pixel", "grain"],
                                        path, f"priors on the emoji world, {count} samples each"))


if __name__ == "__main__":
    main()
