"""Study 4.5: the domain gap. The model fixed (the disk DDPM), results per target domain against its distance
from the model's own domain (the paper reports that larger gaps are easier).

    python -m experiments.priors          # first: the per-target results (results/priors/priors.csv)
    python -m experiments.domain_gap

The gap of a domain: the Frechet distance between 256 of its images and 256 disks in the domain classifier's
feature space, and in the UNet's middle-block space (the model's own view). Beside it, each target's rate, FID
and memorisation for the paper's family (`residual` at t_M 300) and ours (`mixture` at bandwidth 1, the default,
and with symmetries at bandwidth 0.5, t_M 200);
and the Spearman correlation of gap and rate over the targets.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch

if not __package__:  # run as a file (python experiments/domain_gap.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import HERE, images, markdown, parser, prepare, publish

SETTINGS = ["residual t300", "mixture bw1 t300", "mixture+sym bw0.5 t200"]


def ranks(values: list[float]) -> torch.Tensor:
    """Ranks with ties given their mean rank (several targets reach a rate of 1.00)."""
    v = torch.tensor(values, dtype=torch.float64)
    return torch.stack([(v < x).sum() + ((v == x).sum() - 1) / 2 for x in v]).double()


def spearman(x: list[float], y: list[float]) -> float:
    return float(torch.corrcoef(torch.stack([ranks(x), ranks(y)]))[0, 1])


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--grid", default=str(HERE / "results" / "priors" / "priors.csv"))
    args = p.parse_args(argv)
    from unseen.evaluation.features import MidBlockFeatures
    from unseen.evaluation.fid import fid_kid
    from unseen.worlds.tiny.classifier import load_classifier

    with open(args.grid) as f:
        grid = list(csv.DictReader(f))
    targets = list(dict.fromkeys(r["target"] for r in grid))
    classifier = load_classifier()
    unet = MidBlockFeatures(prepare(*args.overrides, target=False).loaded.model.unet)
    disks = images("disks", 256, seed=21)
    with torch.no_grad():
        own = {"classifier": classifier.features(disks).double(), "unet": unet(disks).double()}
        rows = []
        for t in targets:
            domain = images(t, 256, seed=21)
            row = {"target": t}
            for space, feats in (("classifier", classifier.features(domain)), ("unet", unet(domain))):
                row[f"gap_{space}"] = fid_kid(own[space], feats.double(), kid_subset=50, kid_subsets=10)["fid"]
            for s in SETTINGS:
                r = next((g for g in grid if g["target"] == t and g["setting"] == s), None)
                for k in ("target_rate", "fid", "memorised_pixel", "diversity_pixel"):
                    row[f"{s}: {k}"] = float(r[k]) if r and r.get(k) not in (None, "") else None
            rows.append(row)
    rows.sort(key=lambda r: r["gap_classifier"])
    cols = list(rows[0])
    lines = [markdown(rows, cols, {c: ".2f" if "rate" in c or "memor" in c or "divers" in c else ".1f" for c in cols})]
    for s in SETTINGS:
        for space in ("classifier", "unet"):
            pairs = [(r[f"gap_{space}"], r[f"{s}: target_rate"]) for r in rows if r[f"{s}: target_rate"] is not None]
            if len(pairs) >= 3:
                lines.append(f"- Spearman(gap in {space} space, {s} target rate) = "
                             f"{spearman([a for a, _ in pairs], [b for _, b in pairs]):.2f} over {len(pairs)} targets")
    text = ("Gap: Frechet distance between 256 images of the domain and 256 disks (the model's own domain). "
            f"Results from {args.grid.split('experiments/')[-1]}.\n\n" + "\n".join(lines) + "\n")
    publish("domain_gap", args, rows, text, _figure)


def _figure(rows, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for s, marker in zip(SETTINGS, "os^"):
        ax.scatter([r["gap_classifier"] for r in rows], [r[f"{s}: target_rate"] for r in rows], marker=marker, label=s)
    for r in rows:
        ax.annotate(r["target"], (r["gap_classifier"], r[f"{SETTINGS[0]}: target_rate"] or 0), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("gap to disks (Frechet distance, classifier features)")
    ax.set_ylabel("target rate")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
