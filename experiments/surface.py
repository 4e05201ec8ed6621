"""Study 4.4: the mixing step x bandwidth surface, through the sweep machinery (one inversion for the sweep).

    python -m experiments.surface                   # smileys, residual prior + rejection, 3 x 3 cells (~5 min)
    python -m experiments.surface target=squares prior=mixture "prior.symmetries=[shift,hflip,hue]"

It runs exactly what a user runs:

    python run.py -m <overrides> geometry=reject mixing.t_M=200,300,400 geometry.bandwidth=0.5,1,2 sampler.count=128

and turns the sweep's summary.csv into heat maps of FID, target rate, diversity ratio and memorisation, and
counts the UNet evaluations each job spent on inversion. The sweep gets a fresh cache folder of its own, so
the count shows what one sweep costs: every job continues the one walk from the furthest point cached.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

if not __package__:  # run as a file (python experiments/surface.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import ROOT, out_dir, parser, publish

# the sweep summary's columns, named by the metrics schema (unseen.evaluation.metrics)
FIELDS = {"fid": "FID", "target_rate": "target rate", "diversity_pixel": "diversity (pixel)",
          "memorised_pixel": "memorised (pixel)", "acceptance": "acceptance"}


def _columns() -> dict[str, str]:
    from unseen.evaluation.metrics import column

    return {column(field): name for field, name in FIELDS.items()}


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--t-m", default="200,300,400")
    p.add_argument("--bandwidths", default="0.5,1,2")
    args = p.parse_args(argv)
    folder = out_dir("surface", args)
    sweep = folder / "sweep"
    import shutil

    shutil.rmtree(folder / "cache", ignore_errors=True)  # a fresh cache: the count below is this sweep's alone
    overrides = ["target=smileys", "prior=residual", *args.overrides]
    cmd = [sys.executable, "run.py", "-m", *overrides, "geometry=reject", f"mixing.t_M={args.t_m}",
           f"geometry.bandwidth={args.bandwidths}", f"sampler.count={args.count}", "mixing.reconstruct=0",
           "logger=none", "progress=false", f"hydra.sweep.dir={sweep}", f"cache_dir={folder / 'cache'}"]
    print(" ".join(cmd), flush=True)
    code = subprocess.run(cmd, cwd=ROOT).returncode  # 2: some cells failed (e.g. rejection found too few)
    with open(sweep / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    ts = [int(t) for t in args.t_m.split(",")]
    bws = [float(b) for b in args.bandwidths.split(",")]
    cells = []
    for r in rows:
        cell = {"t_M": int(r["override.mixing.t_M"]), "bandwidth": float(r["override.geometry.bandwidth"]),
                "status": r["status"], "error": r.get("error") or None,
                "inversion_unet_evaluations": int(float(r.get("unet_evaluations.invert") or 0))}
        cell.update({k: float(r[k]) if r.get(k) not in (None, "") else None for k in _columns()})
        cells.append(cell)
    spent = [c["inversion_unet_evaluations"] for c in cells]
    lines = [f"`{' '.join(cmd[1:-2])}` (exit {code}; a fresh cache); {args.count} samples per cell. UNet "
             f"evaluations spent on inversion, per job: {spent}, {sum(spent):,} in all (one inversion of K "
             f"references to the largest t_M costs K x t_M / stride = K x {max(ts) // 10} on the default grid).\n"]
    for key, name in _columns().items():
        lines += [f"\n{name}\n", "| t_M \\ bandwidth | " + " | ".join(f"{b:g}" for b in bws) + " |",
                  "|---" * (len(bws) + 1) + "|"]
        for t in ts:
            vals = []
            for b in bws:
                c = next((c for c in cells if c["t_M"] == t and c["bandwidth"] == b), None)
                vals.append("x" if c is None or c[key] is None else f"{c[key]:.3g}")
            lines.append(f"| {t} | " + " | ".join(vals) + " |")
    failed = [c for c in cells if c["status"] != "ok"]
    if failed:
        lines.append("\nx: the cell failed: " + "; ".join(f"t_M {c['t_M']} bw {c['bandwidth']:g}: {c['error']}"
                                                          for c in failed))
    publish("surface", args, cells, "\n".join(lines) + "\n", lambda rows, path: _figure(rows, ts, bws, path))


def _figure(cells, ts, bws, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(_columns()), figsize=(4 * len(_columns()), 3.4))
    for ax, (key, name) in zip(axes, _columns().items()):
        grid = np.full((len(ts), len(bws)), np.nan)
        for c in cells:
            if c[key] is not None:
                grid[ts.index(c["t_M"]), bws.index(c["bandwidth"])] = c[key]
        im = ax.imshow(grid, origin="lower", aspect="auto")
        ax.set_xticks(range(len(bws)), [f"{b:g}" for b in bws])
        ax.set_yticks(range(len(ts)), ts)
        ax.set_xlabel("bandwidth")
        ax.set_ylabel("t_M")
        ax.set_title(name)
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    main()
