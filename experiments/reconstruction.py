"""Study 4.1: DDIM inversion reconstructs images the model never saw (the paper's first claim).

    python -m experiments.reconstruction             # 6 domains x t_M {100,300,500,700} x steps {10,25,50} (~5 min)

Each cell inverts 16 images of every tiny-world domain (the disk model's own domain included) to t_M on the
paper's grid (linspace, `steps` steps) and generates them back on the same grid: PSNR and SSIM per domain.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

if not __package__:  # run as a file (python experiments/reconstruction.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import bar_figure, images, parser, prepare, publish


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--t-m", nargs="+", type=int, default=[100, 300, 500, 700])
    p.add_argument("--steps", nargs="+", type=int, default=[10, 25, 50])
    p.add_argument("--images", type=int, default=16)
    args = p.parse_args(argv)
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    from unseen.images import psnr
    from unseen.method import ddim
    from unseen.worlds.tiny.domains import DOMAINS

    domains = list(DOMAINS)
    refs = torch.cat([images(d, args.images, seed=11) for d in domains])
    rows = []
    for t_m in args.t_m:
        for steps in args.steps:  # the paper's linspace grid of mixing.steps, as a run with those settings makes it
            job = prepare(f"mixing.t_M={t_m}", f"mixing.steps={steps}", *args.overrides)
            predictor, grid = job.loaded.predictor, job.grids.inversion
            recon = ddim.generate(predictor, ddim.invert_to(predictor, refs, grid), grid)
            for i, d in enumerate(domains):
                part = slice(i * args.images, (i + 1) * args.images)
                rows.append({"domain": d, "t_M": t_m, "steps": steps,
                             "psnr": float(psnr(recon[part], refs[part]).mean()),
                             "ssim": float(ssim(recon[part].double(), refs[part].double(), data_range=2.0)),
                             "images": args.images})
            print(f"t_M {t_m} steps {steps}: " + ", ".join(f"{r['domain']} {r['psnr']:.1f} dB" for r in rows[-6:]),
                  flush=True)
    table = ["| domain | " + " | ".join(f"t_M {t} / {s} steps" for t in args.t_m for s in args.steps) + " |",
             "|---" * (1 + len(args.t_m) * len(args.steps)) + "|"]
    for d in domains:
        cells = [next(r for r in rows if r["domain"] == d and r["t_M"] == t and r["steps"] == s)
                 for t in args.t_m for s in args.steps]
        table.append(f"| {d} | " + " | ".join(f"{c['psnr']:.1f} dB / {c['ssim']:.3f}" for c in cells) + " |")
    for r in rows:
        r["label"] = f"{r['domain']} t{r['t_M']} s{r['steps']}"
    publish("reconstruction", args, rows,
            f"PSNR / SSIM of {args.images} images per domain, inverted to t_M and generated back on the same "
            f"linspace grid (the disk model: disks are its own domain).\n\n" + "\n".join(table) + "\n",
            lambda rows, path: bar_figure([r for r in rows if r["steps"] == max(args.steps)], "label",
                                          ["psnr", "ssim"], path, f"reconstruction at {max(args.steps)} steps"))


if __name__ == "__main__":
    main()
