"""Study 4.3: the geometry of latents: the three criteria for references, draws, kept draws and the model's own.

    python -m experiments.geometry                    # smileys at t_M 300 (~1 min)
    python -m experiments.geometry --target squares

At t_M, for the references (each against 10 others, leave-one-out), raw draws of the `scalar` (the paper's) and
`residual` priors, those rejection keeps at bandwidth 1, those optimisation moves into the band, and the model's
own latents (disks inverted the same way): histograms of distance, origin angle and pair angle; and the
acceptance of rejection against the bandwidth for each prior kind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

if not __package__:  # run as a file (python experiments/geometry.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import images, markdown, parser, prepare, publish


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--target", default="smileys")
    p.add_argument("--t-m", type=int, default=300)
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--bandwidths", nargs="+", type=float, default=[0.5, 1, 2, 3, 5, 8])
    args = p.parse_args(argv)
    from unseen.method import ddim
    from unseen.method.geometry import criteria, geometry_targets, optimize_into_band, random_subsets, within_band
    from unseen.method.prior import draw, fit_prior
    from unseen.method.sources import batch_generator

    job = prepare(f"target={args.target}", "target.num_references=64", f"mixing.t_M={args.t_m}", *args.overrides)
    predictor, grid = job.loaded.predictor, job.grids.inversion
    refs = ddim.invert_to(predictor, job.target.images, grid).flatten(1).double()
    own = ddim.invert_to(predictor, images("disks", 64, seed=0), grid).flatten(1).double()
    targets = geometry_targets(refs, 10, batch_generator(0, "geometry", 0))
    g = torch.Generator().manual_seed(0)

    def values(z):
        return criteria(z, refs, random_subsets(len(z), len(refs), 10, g))

    populations = {"references": targets.reference_values, "own latents": values(own)}
    acceptance = []
    for kind in ["scalar", "residual", "pca", "mixture"]:
        prior = fit_prior(refs, kind, components=16)
        z = draw(prior, args.draws, g)
        subsets = random_subsets(len(z), len(refs), 10, g)
        vals = criteria(z, refs, subsets)
        for bw in args.bandwidths:
            ok = within_band(vals, targets, bw)
            acceptance.append({"prior": kind, "bandwidth": bw, "acceptance": float(ok.double().mean()),
                               "draws": len(z)})
        if kind in ("scalar", "residual"):
            populations[f"{kind} draws"] = vals
            ok = within_band(vals, targets, 1.0)
            if ok.any():
                populations[f"{kind} kept (reject bw 1)"] = {c: v[ok] for c, v in vals.items()}
            moved = optimize_into_band(z[:256], refs, subsets[:256], targets, 1.0)
            populations[f"{kind} optimised (bw 1)"] = criteria(moved, refs, subsets[:256])
    summary, text = _tables(args, populations, acceptance)
    publish("geometry", args, summary, text, lambda rows, path: _figure(populations, targets, acceptance, path),
            {"acceptance.csv": acceptance})


def _tables(args, populations: dict, acceptance: list[dict]) -> tuple[list[dict], str]:
    """Each population's criteria (mean, std) and rejection's acceptance by bandwidth, as rows and markdown."""
    from unseen.method.geometry import CRITERIA

    summary = [{"population": name, "count": len(v["distance"]),
                **{f"{c}_mean": float(v[c].mean()) for c in CRITERIA}, **{f"{c}_std": float(v[c].std()) for c in CRITERIA}}
               for name, v in populations.items()]
    cols = ["population", "count"] + [f"{c}_{s}" for c in CRITERIA for s in ("mean", "std")]
    acc_cols = ["prior"] + [f"bw {b:g}" for b in args.bandwidths]
    acc_rows = [{"prior": k, **{f"bw {a['bandwidth']:g}": a["acceptance"] for a in acceptance if a["prior"] == k}}
                for k in dict.fromkeys(a["prior"] for a in acceptance)]
    return summary, (f"{args.target} at t_M {args.t_m}, K = 64, each population scored "
                     f"against random subsets of 10 references.\n\n"
                     + markdown(summary, cols, {c: ".2f" for c in cols[2:]})
                     + f"\nAcceptance of rejection ({args.draws} draws) against the bandwidth:\n\n"
                     + markdown(acc_rows, acc_cols, {c: ".3f" for c in acc_cols[1:]}))


def _figure(populations, targets, acceptance, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from unseen.method.geometry import CRITERIA

    fig, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    for ax, c in zip(axes, CRITERIA):
        for name, v in populations.items():
            ax.hist(v[c].numpy(), bins=40, density=True, histtype="step", label=name)
        ax.axvspan(targets.mean[c] - targets.std[c], targets.mean[c] + targets.std[c], color="grey", alpha=0.2)
        ax.set_title(f"{c} (band: bandwidth 1)")
    axes[0].legend(fontsize=6)
    for kind in dict.fromkeys(a["prior"] for a in acceptance):
        mine = [a for a in acceptance if a["prior"] == kind]
        axes[3].plot([a["bandwidth"] for a in mine], [a["acceptance"] for a in mine], marker="o", label=kind)
    axes[3].set_xscale("log")
    axes[3].set_title("acceptance against bandwidth")
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
