"""The priors study on the emoji world (issue 14): which latent source keeps faces and flags without copying them.

    python experiments/emoji_priors.py --part 0/2 &  python experiments/emoji_priors.py --part 1/2 &  # then
    python experiments/emoji_priors.py          # the table, from the rows both processes left in the cache
    python experiments/emoji_priors.py --report # re-render it from the committed CSV

The tiny world's priors study (experiments/priors.py) asked which prior keeps varied shapes; here the question is
the emoji world's: at the t_M where faces keep their domain (300) flags copy their references, and where flags
stop copying (500) both lose their domain (experiments/emoji.py). Each row is one prior at a fixed t_M (no
choice by auto), from `emoji_ddpm`, at K = 64 and 10 references, faces and flags: the paper's two sources (slerp
between two references; one Gaussian with the references' residual variance), pca, the mixture at bandwidth 1
(the default) and 2 (wider), and the mixture with declared symmetries (hue alone: a flag recoloured is another
flag's palette; shift, mirror and hue: auto's `mixture_sym`). At K = 64 two rows from the tiny world's disk DDPM
(`model=tiny_ddpm`), the model a user first tries. Scored as in the emoji study (emoji.py's columns and goals).
"""

from __future__ import annotations

from common import bar_figure, markdown, parser, publish, read_rows, run_study
from emoji import COLUMNS, LEGEND, emoji_columns, emoji_goal

SETTINGS = [
    ("slerp t300", ["sampler=slerp", "mixing.t_M=300"]),
    ("residual t300", ["prior=residual", "mixing.t_M=300"]),
    ("pca t300", ["prior=pca", "mixing.t_M=300"]),
    ("mixture bw1 t300", ["prior=mixture", "mixing.t_M=300"]),
    ("mixture bw2 t300", ["prior=mixture", "prior.bandwidth=2.0", "mixing.t_M=300"]),
    ("mixture bw1 t400", ["prior=mixture", "mixing.t_M=400"]),
    ("mixture bw2 t400", ["prior=mixture", "prior.bandwidth=2.0", "mixing.t_M=400"]),
    ("mixture+hue bw1 t300", ["prior=mixture", "prior.symmetries=[hue]", "mixing.t_M=300"]),
    ("mixture+hue bw1 t400", ["prior=mixture", "prior.symmetries=[hue]", "mixing.t_M=400"]),
    ("mixture+sym bw0.5 t400", ["prior=mixture", "prior.bandwidth=0.5", "prior.symmetries=[shift,hflip,hue]",
                                "mixing.t_M=400"]),
]
DISK_SETTINGS = ["slerp t300", "mixture bw1 t300"]
CATEGORIES = ["faces", "flags"]


def rows_for(category: str, k: int) -> list[tuple[dict, list[str]]]:
    target = ["target=emoji", f"target.category={category}", f"target.num_references={k}", "mixing.reconstruct=0",
              "auto.enabled=false"]
    rows = [({"category": category, "K": k, "model": "emoji_ddpm", "setting": name},
             ["model=emoji_ddpm", *target, *o]) for name, o in SETTINGS]
    if k == 64:
        rows += [({"category": category, "K": k, "model": "tiny_ddpm", "setting": name},
                  ["model=tiny_ddpm", *target, *o]) for name, o in SETTINGS if name in DISK_SETTINGS]
    return rows


def main(argv=None) -> None:
    p = parser(__doc__)
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
        r["label"] = f"{r['category']} K{int(float(r['K']))} {r['model']} {r['setting']}"
    count = int(results[0]["samples"]) if results and results[0].get("samples") else args.count
    publish("emoji_priors", args, results,
            f"{count} samples per row; t_M fixed per row (auto off); {LEGEND}\n\n"
            + markdown(results, ["category", "K", "model", "setting", *COLUMNS, "unet_evaluations", "meets_goal"]),
            lambda rs, path: bar_figure(rs, "label", ["target_rate", "memorised_pixel", "diversity_pixel", "grain"],
                                        path, f"priors on the emoji world, {count} samples each"))


if __name__ == "__main__":
    main()
