"""The few-shot protocol's command on the emoji world (issue 14), with its results kept:

    python -m experiments.emoji_fewshot                     # flags: 5000 samples, about 50 min on 2 CPU cores
    python -m experiments.emoji_fewshot --categories faces flags
    python -m experiments.emoji_fewshot --report            # the table from the committed runs only

Each category runs the command the issue's checks call, `python run.py model=emoji_ddpm target=emoji
target.category=C experiment=fewshot` (10 references, 5000 samples, scored against every other image of the
category), through experiments/default.py (a fresh cache: a first run's costs), into
results/emoji_fewshot/C/ (metrics.json, config.yaml, grid.png, nearest.png); the table is
results/emoji_fewshot/emoji_fewshot.{csv,md}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/emoji_fewshot.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments import default
from experiments.common import HERE, get_field, markdown, parser, write_csv

FOLDER = HERE / "results" / "emoji_fewshot"
FIELDS = ["samples", "t_M", "target_rate", "rate_low", "rate_high", "num_real", "fid", "kid", "intra_cluster",
          "intra_cluster_std", "copies", "fewshot_space", "intra_lpips", "copies_lpips", "memorised_pixel",
          "memorised_feature", "diversity_pixel", "diversity_feature", "precision", "grain", "grain_low",
          "grain_high"]


def row(category: str) -> dict:
    """One committed run as a table row: the one metrics schema's fields, UNet evaluations summed."""
    metrics = json.loads((FOLDER / category / "metrics.json").read_text())
    r = {"category": category, **{name: get_field(metrics, name) for name in FIELDS}}
    clusters = metrics["fewshot"]["feature"]
    return {**r, "clusters_scored": clusters["clusters_scored"], "num_clusters": clusters["num_clusters"],
            "smallest_cluster": min(clusters["cluster_sizes"]), "largest_cluster": max(clusters["cluster_sizes"]),
            "unet_evaluations": sum(metrics["unet_evaluations"].values()), "seconds": metrics.get("total_seconds")}


def table() -> tuple[list[dict], str]:
    """The committed runs' rows and the Markdown table of them."""
    rows = [row(c) for c in ("faces", "flags") if (FOLDER / c / "metrics.json").is_file()]
    columns = ["category", "samples", "t_M", "target_rate", "num_real", "fid", "intra_cluster", "intra_cluster_std",
               "copies", "memorised_pixel", "memorised_feature", "diversity_pixel", "diversity_feature", "precision",
               "grain", "unet_evaluations", "seconds"]
    return rows, (
        "`python run.py model=emoji_ddpm target=emoji target.category=C experiment=fewshot`: 10 references, "
        "target_rate [Wilson 95%] by the emoji classifier; FID against every other image of the category "
        "(num_real); intra_cluster (± std over the clusters scored) and copies: the few-shot measures in the "
        "emoji classifier's features (LPIPS: no AlexNet weights here); memorised and diversity as in the "
        "emoji table; seconds: one run on 2 CPU cores, the t_M choice and inversion included.\n\n"
        + markdown(rows, columns, {"samples": "d", "t_M": "d", "num_real": "d", "unet_evaluations": ",d",
                                   "seconds": ".0f", "fid": ".1f"}))


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.add_argument("--categories", nargs="+", default=["flags"])
    args = p.parse_args(argv)
    for category in args.categories if not args.report else []:
        default.main(["model=emoji_ddpm", "target=emoji", f"target.category={category}", "experiment=fewshot",
                      *args.overrides, "--out", str(FOLDER / category)])
    rows, text = table()
    write_csv(rows, FOLDER / "emoji_fewshot.csv")
    (FOLDER / "emoji_fewshot.md").write_text(text)
    print(f"wrote {FOLDER}")


if __name__ == "__main__":
    main()
