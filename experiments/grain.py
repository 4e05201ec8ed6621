"""Why the samples are grainy, and what the method's own means do about it (issue 14).

    python experiments/grain.py                                    # smileys and crosses from the disk model
    python experiments/grain.py --targets faces flags --emoji      # the emoji world (model=emoji_ddpm)

Grain = the mean |Laplacian| of the samples over that of the held-out images (metrics.json `grain`, with a
bootstrap 95% interval; 1 = as smooth as real images). Rows, each a plain run of the default job with one
change: the mixture's bandwidth (0 = the references' latents themselves, i.e. replay), stochastic DDIM on every
step or on the tail below t = 100 (`sampler.eta_from`), a renoise-and-denoise clean-up at t = 50 or 100
(`sampler.cleanup_t`), and a smaller t_M. Beside grain: the target rate with its interval, diversity, copies and
precision, and the UNet evaluations each row cost.
"""

from __future__ import annotations

from common import bar_figure, markdown, parser, publish, read_rows, run_study

FIXES = [
    ("mixture bw 1 (default)", []),
    ("bw 0.5", ["prior.bandwidth=0.5"]),
    ("bw 0.25", ["prior.bandwidth=0.25"]),
    ("bw 0 (replay)", ["prior.bandwidth=0"]),
    ("eta 1, every step", ["sampler.eta=1.0"]),
    ("eta 1 below t 100", ["sampler.eta=1.0", "sampler.eta_from=100"]),
    ("clean-up t 50", ["sampler.cleanup_t=50"]),
    ("clean-up t 100", ["sampler.cleanup_t=100"]),
    ("bw 0.5 + clean-up t 50", ["prior.bandwidth=0.5", "sampler.cleanup_t=50"]),
    ("t_M 200", ["mixing.t_M=200"]),
]


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--targets", nargs="+", default=["smileys", "crosses"])
    p.add_argument("--emoji", action="store_true", help="targets are emoji categories, from model=emoji_ddpm")
    args = p.parse_args(argv)
    if args.report:
        results = read_rows("grain", args)
    else:
        def target(t):
            return ["model=emoji_ddpm", "target=emoji", f"target.category={t}"] if args.emoji else [f"target={t}"]

        rows = [({"target": t, "fix": name}, [*target(t), "mixing.reconstruct=0", *o])
                for t in args.targets for name, o in FIXES]
        results = run_study("grain", rows, args)
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
