"""Every baseline in one table, with the same metrics and sample counts (section 5 of issue 9).

    python -m experiments.baselines                        # squares (a varied domain), 128 samples a row
    python -m experiments.baselines --targets smileys squares
    python -m experiments.baselines model=dog_ddpm model.checkpoint=FILE target=ffhq target.path=DIR eval=unet \
        --targets none --finetune-steps 0                  # a real model: its target comes from the overrides

Rows: the model's own samples (`id`), `replay` (the references' latents: reconstruction), `slerp`, the paper's
prior (`scalar`: no geometry, and rejection at bandwidth 1), the paper's code's actual candidates (20 slerp
points between a reference latent and a draw, then the filter), ours (`residual`, `pca`, `mixture`, `mixture`
with symmetries, `optimize`, `auto`), stochastic generation (DDIM eta = 1) from t_M, SDEdit (forward noise a
reference to t_M, then denoise), and the model fine-tuned on the K references for a fixed budget
(``unseen.baselines.finetune``: --finetune-steps AdamW steps of batch 32; its training is added to the row's seconds and,
as 3 forward-pass equivalents per image, to its UNet evaluations).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # run as a file (python experiments/baselines.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common import ROOT, bar_figure, code_version, markdown, parser, publish, run_study, with_committed

SYM = "prior.symmetries=[shift,hflip,hue]"
ROWS = [
    ("id (own samples)", ["sampler=id"]),
    ("replay", ["sampler=replay"]),
    ("slerp", ["sampler=slerp"]),
    ("scalar, none", ["prior=scalar"]),
    ("scalar, reject bw 1", ["prior=scalar", "geometry=reject"]),
    ("paper candidates, reject", ["sampler=paper", "prior=scalar", "geometry=reject"]),
    ("residual (default before)", ["prior=residual"]),
    ("pca t200", ["prior=pca", "mixing.t_M=200"]),
    ("mixture bw1 (default)", ["prior=mixture"]),
    ("mixture+sym bw0.5 t200", ["prior=mixture", "prior.bandwidth=0.5", SYM, "mixing.t_M=200"]),
    ("scalar, optimize bw 1", ["prior=scalar", "geometry=optimize"]),
    ("mixture bw1, optimize bw 1", ["prior=mixture", "geometry=optimize"]),
    ("auto", ["experiment=auto"]),
    ("mixture bw1, eta 1", ["prior=mixture", "sampler.eta=1.0"]),
    ("sdedit (eta 1)", ["sampler=sdedit"]),
]


def finetuned_with(name: str, steps: int, extra: list[str]) -> tuple[Path, dict]:
    """A model fine-tuned by ``python -m unseen.baselines.finetune --steps STEPS EXTRA`` (made once, kept in the cache
    folder under ``name`` and a key of its arguments and unseen/'s code and weights: a retrained base model or
    changed fine-tuning code makes a new one)."""
    key = hashlib.sha256(" ".join([str(steps), *extra]).encode() + code_version()).hexdigest()[:12]
    folder = ROOT / ".cache" / "unseen" / "finetuned" / f"{name}-{steps}-{key}"
    if not (folder / "finetune.json").is_file():
        subprocess.run([sys.executable, "-m", "unseen.baselines.finetune", "--steps", str(steps), "--out", str(folder), *extra],
                       check=True, cwd=ROOT)
    return folder, json.loads((folder / "finetune.json").read_text())


def finetuned(target: str, steps: int, extra: list[str]) -> tuple[Path, dict]:
    """The model fine-tuned on this tiny-world target's K references."""
    return finetuned_with(target, steps, ["--target", target, *extra])


def main(argv=None) -> None:
    p = parser(__doc__)
    p.add_argument("--targets", nargs="+", default=["squares"], help="tiny-world targets ('none': from overrides)")
    p.add_argument("--finetune-steps", type=int, default=150, help="the fine-tuning budget (0: no such row)")
    p.add_argument("--baselines", nargs="+", default=None,
                   help="run only these rows (names as in the table) and keep the committed CSV's others")
    args = p.parse_args(argv)
    rows, extras = [], {}
    for t in args.targets:
        base = [] if t == "none" else [f"target={t}"]
        rows += [({"target": t, "baseline": name}, [*base, "mixing.reconstruct=0", *o]) for name, o in ROWS
                 if args.baselines is None or name in args.baselines]
        if args.finetune_steps and t != "none" and args.baselines is None:
            started = time.time()
            folder, stats = finetuned(t, args.finetune_steps, [])
            extras[t] = stats
            rows.append(({"target": t, "baseline": f"fine-tuned {args.finetune_steps} steps"},
                         [*base, "mixing.reconstruct=0", "sampler=id", f"model.pretrained={folder}"]))
            print(f"fine-tuning on {t}: {stats} ({time.time() - started:.0f}s here)", flush=True)
    results = run_study("baselines", rows, args)
    for r in results:
        stats = extras.get(r["target"]) if r["baseline"].startswith("fine-tuned") else None
        if stats and "error" not in r:
            r["seconds"] = (r["seconds"] or 0) + stats["seconds"]
            r["unet_evaluations"] = (r["unet_evaluations"] or 0) + stats["unet_evaluation_equivalents"]
    if args.baselines is not None:
        def key(r: dict) -> tuple:
            return r["target"], r["baseline"]

        names = [n for n, _ in ROWS] + [f"fine-tuned {args.finetune_steps} steps"]
        order = [(t, name) for t in args.targets for name in names]
        results = with_committed("baselines", args, results, order, key)
    cols = ["target", "baseline", "target_rate", "fid", "kid", "precision", "recall", "diversity_pixel",
            "diversity_feature", "memorised_pixel", "memorised_feature", "memorised_unet", "unet_evaluations",
            "seconds", "error"]
    for r in results:
        r["label"] = f"{r['target']} {r['baseline']}"
    publish("baselines", args, results,
            f"{args.count} samples per row, K = 64 references, the tiny world's disk DDPM, t_M 300 unless named. "
        f"target_rate [Wilson 95%]; FID/KID in the domain classifier's feature space against 256 held-out images; "
        f"memorised = fraction of samples nearer a reference than half the references' own NN distance; "
        f"diversity = samples' mean pairwise distance / held-out images'.\n\n" + markdown(results, cols),
            lambda rows, path: bar_figure(rows, "label", ["target_rate", "diversity_pixel", "memorised_pixel", "fid"],
                                          path, f"baselines, {args.count} samples each"))


if __name__ == "__main__":
    main()
