"""Study 4.2: inverted latents of unseen domains are (truncated) Gaussian and separable from the model's own.

    python -m experiments.latents                   # 6 domains x t {100,300,500,700}, 64 images each (~3 min)

Per domain and t, from the latents of 64 images inverted on a stride-10 grid:
* normality: every entry standardised by its dimension's mean and std over the 64 latents, pooled; the
  Kolmogorov-Smirnov distance to N(0, 1) and the excess kurtosis, beside the same numbers for 64 true
  Gaussian vectors of the same size (the floor a finite sample reaches);
* truncation: the fraction of entries outside sqrt(ab_t) [-1, 1] +- 3 sqrt(1 - ab_t) (x_0 is bounded);
* separability from the model's own (disk) latents at the same t: a linear probe (logistic regression on
  32 + 32 latents, accuracy on the other 32 + 32) and the distance between the two means in units of the
  within-domain spread (|mu_a - mu_b| / sqrt(mean of the two traces of the covariance)).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

if not __package__:  # run as a file (python experiments/latents.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import images, markdown, parser, prepare, publish


def ks_normal(x: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance of the pooled values x to N(0, 1)."""
    v = x.flatten().double().sort().values
    n = len(v)
    cdf = 0.5 * (1 + torch.erf(v / math.sqrt(2)))
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - cdf, cdf - (i - 1) / n).max())


def standardised(z: torch.Tensor) -> torch.Tensor:
    return (z - z.mean(0)) / z.std(0).clamp_min(1e-12)


def probe_accuracy(a: torch.Tensor, b: torch.Tensor, steps: int = 300) -> float:
    """Logistic regression on the first halves, accuracy on the second halves."""
    h = len(a) // 2
    x_train, x_test = torch.cat([a[:h], b[:h]]), torch.cat([a[h:], b[h:]])
    y_train = torch.cat([torch.ones(h), torch.zeros(h)]).double()
    y_test = torch.cat([torch.ones(len(a) - h), torch.zeros(len(b) - h)]).double()
    mu, sd = x_train.mean(0), x_train.std(0).clamp_min(1e-12)
    x_train, x_test = (x_train - mu) / sd, (x_test - mu) / sd
    w = torch.zeros(x_train.shape[1], dtype=torch.float64, requires_grad=True)
    c = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x_train @ w + c, y_train) + 1e-3 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((x_test @ w + c > 0).double() == y_test).double().mean())


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--t", nargs="+", type=int, default=[100, 300, 500, 700])
    p.add_argument("--images", type=int, default=64)
    args = p.parse_args(argv)
    from unseen.method import ddim
    from unseen.worlds.tiny.domains import DOMAINS

    job = prepare(f"mixing.t_M={max(args.t)}", *args.overrides)
    predictor, grid = job.loaded.predictor, job.grids.inversion
    latents: dict[str, dict[int, torch.Tensor]] = {}
    for d in DOMAINS:
        kept = {}
        ddim.invert_to(predictor, images(d, args.images, seed=13), grid,
                       on_step=lambda t, x: kept.__setitem__(t, x.flatten(1).double()) if t in args.t else None)
        latents[d] = kept
        print(f"inverted {d}", flush=True)
    rows = []
    g = torch.Generator().manual_seed(0)
    for t in args.t:
        ab = float(predictor.alpha_bar(t))
        bound = math.sqrt(ab) + 3 * math.sqrt(1 - ab)
        gauss = torch.randn(args.images, latents["disks"][t].shape[1], generator=g, dtype=torch.float64)
        floor_ks, floor_kurt = ks_normal(standardised(gauss)), float(standardised(gauss).pow(4).mean() - 3)
        own = latents["disks"][t]
        for d in DOMAINS:
            z = latents[d][t]
            s = standardised(z)
            spread = math.sqrt((z.var(0).sum() + own.var(0).sum()) / 2)
            rows.append({"domain": d, "t": t, "ks": ks_normal(s), "ks_gaussian_floor": floor_ks,
                         "excess_kurtosis": float(s.pow(4).mean() - 3), "kurtosis_gaussian_floor": floor_kurt,
                         "outside_bound": float((z.abs() > bound).double().mean()),
                         "probe_accuracy_vs_own": probe_accuracy(z, own) if d != "disks" else None,
                         "mean_distance_vs_own": float((z.mean(0) - own.mean(0)).norm() / spread),
                         "images": args.images})
        print(f"t {t}: " + ", ".join(f"{r['domain']} ks {r['ks']:.3f} probe {r['probe_accuracy_vs_own']}"
                                     for r in rows[-len(DOMAINS):]), flush=True)
    cols = ["domain", "t", "ks", "ks_gaussian_floor", "excess_kurtosis", "kurtosis_gaussian_floor", "outside_bound",
            "probe_accuracy_vs_own", "mean_distance_vs_own"]
    text = markdown(rows, cols, {c: ".3f" for c in cols[2:]})
    publish("latents", args, rows, f"{args.images} inverted latents per domain and t (the disk model).\n\n" + text,
            lambda rows, path: _figure(rows, args.t, path))


def _figure(rows, ts, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for d in dict.fromkeys(r["domain"] for r in rows):
        mine = [r for r in rows if r["domain"] == d]
        axes[0].plot(ts, [r["ks"] for r in mine], marker="o", label=d)
        axes[1].plot(ts, [r["mean_distance_vs_own"] for r in mine], marker="o", label=d)
        if d != "disks":
            axes[2].plot(ts, [r["probe_accuracy_vs_own"] for r in mine], marker="o", label=d)
    axes[0].plot(ts, [next(r["ks_gaussian_floor"] for r in rows if r["t"] == t) for t in ts], "k--", label="gaussian")
    for ax, title in zip(axes, ["KS distance to N(0,1) (standardised)", "mean distance to own / spread",
                                "linear probe accuracy vs own"]):
        ax.set_title(title)
        ax.set_xlabel("t")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
