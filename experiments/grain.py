"""Why the samples are grainy, and what the method's own means do about it (issue 14).

    python -m experiments.grain                                    # smileys and crosses from the disk model
    python -m experiments.grain --fixes "match_noise bw 1"               # one row more, the others as committed
    python -m experiments.grain --emoji --targets faces flags model=emoji_ddpm --out experiments/results/emoji_grain

Grain = the mean |Laplacian| of the samples over that of the held-out images (metrics.json `grain`, with a
bootstrap 95% interval; 1 = as smooth as real images). Rows, each a plain run of the default job with one
change: the mixture's bandwidth (0 = the references' latents themselves, i.e. replay), stochastic DDIM on the
tail below t = 100 (`sampler.eta_from`), a renoise-and-denoise clean-up at t = 50 (`sampler.cleanup_t`), the
mixture's pca kernel (moves along the references' 16 principal directions only, `prior.kernel=pca`), a
smaller t_M, the draws denoised from the t their noise level matches (`sampler.match_noise`), and the collage of
two references' latents (`sampler=collage`: no added noise at all). Beside grain:
the target rate with its interval, diversity, copies and precision, and the UNet evaluations each row cost.
"""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/grain.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import (
    bar_figure,
    markdown,
    parser,
    publish,
    read_rows,
    run_study,
    target_overrides,
    with_committed,
)

FIXES = [
    ("mixture bw 1 (default)", []),
    ("bw 0.5", ["prior.bandwidth=0.5"]),
    ("bw 0 (replay)", ["prior.bandwidth=0"]),
    ("eta 1 below t 100", ["sampler.eta=1.0", "sampler.eta_from=100"]),
    ("clean-up t 50", ["sampler.cleanup_t=50"]),
    ("pca kernel bw 0.5", ["prior.kernel=pca", "prior.components=16", "prior.bandwidth=0.5"]),
    ("pca kernel bw 0.3", ["prior.kernel=pca", "prior.components=16", "prior.bandwidth=0.3"]),
    ("t_M 200", ["mixing.t_M=200"]),
    ("match_noise bw 1", ["sampler.match_noise=true"]),
    ("match_noise bw 0.5", ["sampler.match_noise=true", "prior.bandwidth=0.5"]),
    ("collage t300", ["sampler.source=collage"]),
    ("collage t200", ["sampler.source=collage", "mixing.t_M=200"]),
]


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.add_argument("--targets", nargs="+", default=["smileys", "crosses"])
    p.add_argument("--fixes", nargs="+", default=None,
                   help="run only these rows (by name) and keep the committed CSV's other rows")
    args = p.parse_args(argv)
    if args.report:
        results = read_rows("grain", args)
    else:
        rows = [({"target": t, "fix": name}, [*target_overrides(t, args), "mixing.reconstruct=0", *o])
                for t in args.targets for name, o in FIXES if args.fixes is None or name in args.fixes]
        results = run_study("grain", rows, args)
        if args.fixes is not None:  # the committed rows of the other fixes, in the order of FIXES
            results = with_committed("grain", args, results, [(t, f) for t in args.targets for f, _ in FIXES],
                                     lambda r: (r["target"], r["fix"]))
    for r in results:
        r["label"] = f"{r['target']} {r['fix']}"
    cols = ["target", "fix", "grain", "grain_low", "grain_high", "target_rate", "rate_low", "diversity_pixel",
            "diversity_feature", "memorised_pixel", "memorised_feature", "precision", "unet_evaluations", "error"]
    publish("grain", args, results,
            f"{args.count} samples per row, K = 64, t_M 300 unless named. grain = the samples' mean |Laplacian| over "
            f"the held-out images' (grain_low / grain_high: bootstrap 95%); rate_low: the Wilson lower bound.\n\n"
            + markdown(results, cols),
            lambda rows, path: bar_figure(rows, "label", ["grain", "target_rate", "diversity_pixel",
                                                          "memorised_pixel"], path, "grain and what it costs"))


if __name__ == "__main__":
    main()
