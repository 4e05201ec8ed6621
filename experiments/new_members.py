"""New members or redraws? Sources on the emoji world, scored by the redraw measure (issue 26).

Each row is one run of the real pipeline (``unseen.run``) on an emoji category split by identity, at a fixed t_M
(auto off, so the source is what varies): the default mixture prior, the collage of two references' latents,
the collage of three or four (``sampler.collage_parts``) and with smaller regions (``sampler.collage_cells``), the hybrid (low frequencies of one, high of another), slerp between two, and the mixture under stochastic
denoising. ``--rows`` reruns some rows and keeps the others of the committed table. Beside the target rate: the redraw rate with its
Wilson interval and the held-out images' floor, the median distance-over-limit, pixel diversity, grain and the
worst spectral band. Each row's folder keeps metrics.json, grid.png and nearest.png (the samples most like a
reference first) to LOOK at.

    python -m experiments.new_members [--count 128] [--category faces] [--k 64] [--cache-dir DIR]
    python -m experiments.new_members --count 512 --rows "default command" --category flags --k 10   # a goal row
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if not __package__:  # run as a file (python experiments/new_members.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OUT = ROOT / "experiments" / "results" / "new_members"
ROWS = {  # label -> overrides
    "default command": [],  # the world's own: the collage, t_M chosen from the references
    "mixture t300": ["sampler.source=prior", "mixing.t_M=300"],
    "mixture t400": ["sampler.source=prior", "mixing.t_M=400"],
    "mixture t500": ["sampler.source=prior", "mixing.t_M=500"],
    "collage t300": ["sampler.source=collage", "mixing.t_M=300"],
    "collage t400": ["sampler.source=collage", "mixing.t_M=400"],
    "collage t500": ["sampler.source=collage", "mixing.t_M=500"],
    "collage3 t300": ["sampler.source=collage", "sampler.collage_parts=3", "mixing.t_M=300"],
    "collage3 t400": ["sampler.source=collage", "sampler.collage_parts=3", "mixing.t_M=400"],
    "collage4 t300": ["sampler.source=collage", "sampler.collage_parts=4", "mixing.t_M=300"],
    "collage3 cells4 t300": ["sampler.source=collage", "sampler.collage_parts=3", "sampler.collage_cells=4",
                             "mixing.t_M=300"],
    "hybrid t300": ["sampler.source=hybrid", "mixing.t_M=300"],
    "hybrid t400": ["sampler.source=hybrid", "mixing.t_M=400"],
    "slerp t400": ["sampler.source=slerp", "mixing.t_M=400"],
    "mixture t400 eta1": ["sampler.source=prior", "mixing.t_M=400", "sampler.eta=1"],
}
COLUMNS = ["category", "k", "row", "t_M", "source", "samples", "target_rate", "rate_low", "redraw", "redraw_low",
           "redraw_high", "redraw_held_out", "redraw_ratio", "redraw_ratio_held_out", "diversity_pixel", "grain",
           "band_worst", "band_worst_high", "fid", "misses"]


def row(metrics: dict, category: str, k: int, label: str) -> dict:
    from unseen.evaluation.metrics import get

    r = metrics["redraw"]
    out = {"category": category, "k": k, "row": label, "t_M": metrics["t_M"], "source": metrics["source"],
           "samples": metrics["samples"]["count"], "target_rate": get(metrics, "target_rate"),
           "rate_low": get(metrics, "rate_low"), "redraw": r["fraction"], "redraw_low": r["interval_95"][0],
           "redraw_high": r["interval_95"][1], "redraw_held_out": r.get("held_out_fraction"),
           "redraw_ratio": r["median_ratio"], "redraw_ratio_held_out": r.get("held_out_median_ratio"),
           "diversity_pixel": get(metrics, "diversity_pixel"), "grain": get(metrics, "grain"),
           "band_worst": get(metrics, "band_worst"), "band_worst_high": get(metrics, "band_worst_high"),
           "fid": get(metrics, "fid"),
           "misses": _misses(metrics)}
    return {key: round(v, 4) if isinstance(v, float) else v for key, v in out.items()}


def _misses(metrics: dict) -> str:
    from unseen.evaluation.goals import check

    return "; ".join(g["goal"] for g in check(metrics) if not g["met"]) or "none"


def _number(v: str):
    try:
        return int(v) if v.isdigit() else float(v)
    except ValueError:
        return v


def table(rows: list[dict]) -> str:
    head = ("| category, K | row | rate [low] | redraws [95%] | held-out floor | distance / limit (held-out) | "
            "pixel diversity | grain | worst band [high] | FID | misses |")
    lines = [head, "|" + " --- |" * 11]
    for r in rows:
        label = r["row"] + (f" (t_M {r['t_M']})" if r["row"] == "default command" else "")
        lines.append(f"| {r['category']}, {r['k']} | {label} | {r['target_rate']:.2f} [{r['rate_low']:.2f}] | "
                     f"{r['redraw']:.2f} [{r['redraw_low']:.2f}, {r['redraw_high']:.2f}] | "
                     f"{r['redraw_held_out']:.2f} | "
                     f"{r['redraw_ratio']:.2f} ({r['redraw_ratio_held_out']:.2f}) | {r['diversity_pixel']:.2f} | "
                     f"{r['grain']:.2f} | {r['band_worst']:.2f} [{r['band_worst_high']:.2f}] | {r['fid']:.1f} | "
                     f"{r.get('misses') or '-'} |")
    n = rows[0]["samples"] if rows else 0
    return ("\n".join(lines) + f"\n\n{n} samples a row; emoji_ddpm, the category split by identity. Redraws: samples "
            "nearer their nearest reference than that reference's twin (the other vendor's drawing) is, in pixels at "
            "half resolution (unseen/evaluation/redraw.py); held-out floor: the same rate for real held-out images. misses: the "
            "goals of issue 26 the row misses, each judged on its interval's bound (unseen/evaluation/goals.py; '-': a row run "
            "before the goals were written). Written by `python -m experiments.new_members`.\n")


def run_row(args, label: str, folder: Path) -> dict:
    """One row: the real pipeline into ``folder`` (from scratch), keeping only what is read."""
    import unseen

    if folder.exists():
        shutil.rmtree(folder)  # the study's own output: rerun from scratch
    r = unseen.run("model=emoji_ddpm", "target=emoji", f"target.category={args.category}",
                   f"target.num_references={args.k}", f"sampler.count={args.count}", "logger=none",
                   "save_latents=false", "progress=false", f"cache_dir={args.cache_dir}", *ROWS[label],
                   output_dir=folder)
    # the repository keeps what is read: metrics.json, grid.png, nearest.png, split.json
    for name in ("samples", "reconstruction.png", "config.yaml", ".unseen-run.json"):
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return row(r.metrics, args.category, args.k, label)


def with_kept(out: Path, rows: list[dict], rerun: list[str], folders: Path) -> list[dict]:
    """``rows`` with the committed table's other rows, in the table's order; a kept row run before the goals
    were written is judged from its committed metrics.json."""
    if not out.is_file():
        return rows
    kept = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(open(out)) if r["row"] not in rerun]
    for r in kept:
        done = folders / r["row"].replace(" ", "_") / "metrics.json"
        if not r.get("misses") and done.is_file():
            r["misses"] = _misses(json.loads(done.read_text()))
    return sorted(kept + rows, key=lambda r: list(ROWS).index(r["row"]) if r["row"] in ROWS else len(ROWS))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=128, help="samples a row (512: the goal rows, a table of their own)")
    p.add_argument("--category", default="faces")
    p.add_argument("--k", type=int, default=64)
    p.add_argument("--cache-dir", default=".cache/unseen")
    p.add_argument("--rows", nargs="*", default=list(ROWS))
    p.add_argument("--out", type=Path, default=OUT)
    args, _ = p.parse_known_args(argv)  # run_all.sh passes every study the same options
    name = f"{args.category}_k{args.k}{'' if args.count == 128 else f'_n{args.count}'}"
    rows = []
    for label in args.rows:
        rows.append(run_row(args, label, args.out / name / label.replace(" ", "_")))
        print(rows[-1], flush=True)
    out = args.out / f"new_members_{name}.csv"
    rows = with_kept(out, rows, args.rows, args.out / name)
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    out.with_suffix(".md").write_text(table(rows))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
