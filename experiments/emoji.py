"""The emoji world's study (issue 14): real artwork, a base model that never saw the targets.

    python -m experiments.emoji                      # faces and flags, K = 64 and 10, 256 samples a row
    python -m experiments.emoji --part 0/2 &  python -m experiments.emoji --part 1/2 &   # two processes, then
    python -m experiments.emoji                      # ... the table from the rows both finished (kept in the cache)

Rows, for each category and K: the world's default command (`python run.py model=emoji_ddpm target=emoji
target.category=C`, nothing else), `experiment=auto` on it, at K = 64 the t_M the default chooses for the other
category fixed (faces at 500, flags at 300), at K = 10 t_M 300 and 400 fixed (the world chooses among 300, 400
and 500), and at K = 10 the fine-tuning baseline (``unseen.baselines.finetune``, the
same 10 references, --finetune-steps AdamW steps of batch 10, i.e. all of them, then the fine-tuned model's own
samples; its training is added to the row's UNet evaluations as 3 forward-pass equivalents per image). Faces at
K = 64 also from the tiny world's disk model (`model=tiny_ddpm`: the user's first try in the issue), with and
without `sampler.match_noise`.

A second table (emoji_tenshot.csv) pairs the default command with fine-tuning at K = 10 cluster by cluster
(``ten_shot``). Every row is scored against every image of the category that is not a reference
(`target.num_eval=null`), in the emoji classifier's feature space, with the few-shot measures (intra-cluster
diversity, nearest-reference copies).
Goals (issue 14), each met only where its interval's bound meets it: the target rate's Wilson lower bound >= 0.9,
copies (pixel and feature) <= 0.1, diversity ratio (pixel and feature) in [0.9, 1.3], the grain ratio's upper
bound <= 1.2.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if not __package__:  # run as a file (python experiments/emoji.py): the checkout's root on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.baselines import finetuned_with
from experiments.common import (
    bar_figure,
    get_field,
    markdown,
    meets_goal,
    number,
    parser,
    publish,
    read_rows,
    run_study,
    with_committed,
)

GOAL_GRAIN = 1.2
CATEGORIES = ["faces", "flags"]


COLUMNS = ["target_rate", "memorised_pixel", "memorised_feature", "diversity_pixel", "diversity_feature", "precision",
           "grain", "fid", "intra_cluster", "copies"]
TEN_SHOT_COLUMNS = ["category", "intra_cluster_method", "intra_cluster_finetuned", "difference", "difference_low",
                    "difference_high", "clusters", "fid_method", "fid_finetuned", "unet_evaluations_method",
                    "unet_evaluations_finetuned", "intra_cluster_at_least", "fid_at_least"]
LEGEND = ("scored against every image of the category that is not a reference, in the emoji classifier's features. "
          "target_rate [Wilson 95%]; memorised = fraction of samples nearer a reference than half the references' "
          "own NN distance (pixels, features); diversity = samples' mean pairwise distance / held-out images'; "
          "grain [bootstrap 95%] = mean |Laplacian| over the held-out images'; intra_cluster / copies = the few-shot "
          "measures in the classifier's features. meets_goal: the rate's lower bound >= 0.9, memorised <= 0.1, "
          f"diversity in [0.9, 1.3], grain's upper bound <= {GOAL_GRAIN}.")


def emoji_columns(label: dict, metrics: dict) -> dict:
    """The columns an emoji row adds to the common ones: the few-shot measures and what auto chose (and, kept out
    of the CSV, each cluster's diversity for the ten-shot comparison)."""
    return {name: get_field(metrics, name) for name in ("intra_cluster", "intra_cluster_each", "copies", "auto_chosen",
                                                          "auto_t_M", "start_t", "auto_evaluations",
                                                          "auto_plain_evaluations", "auto_cost_ratio")}


def ten_shot(results: list[dict]) -> list[dict]:
    """At K = 10, the default command against the fine-tuning baseline, category by category: intra-cluster
    diversity paired by reference (the same ten references make the same ten clusters in both) with a bootstrap
    interval over the clusters, FID, and the UNet evaluations each spent. Only rows run with each cluster's
    diversity in their metrics (since this comparison was added) take part."""
    from unseen.evaluation.fewshot import paired_difference

    out = []
    for category in CATEGORIES:
        at = {r["setting"]: r for r in results if r["category"] == category and int(float(r["K"])) == 10}
        method, tuned = at.get("default command"), next((r for s, r in at.items() if s.startswith("fine-tuned")), None)
        if not (method and tuned and method.get("intra_cluster_each") and tuned.get("intra_cluster_each")):
            continue
        d = paired_difference(method["intra_cluster_each"], tuned["intra_cluster_each"])
        if d["mean"] is None:  # fewer than two clusters scored by both: nothing to pair
            continue
        out.append({"category": category, "fine_tuning": tuned["setting"],
                    "intra_cluster_method": method["intra_cluster"], "intra_cluster_finetuned": tuned["intra_cluster"],
                    "difference": d["mean"], "difference_low": d["interval_95"][0],
                    "difference_high": d["interval_95"][1], "clusters": d["clusters"],
                    "fid_method": method["fid"], "fid_finetuned": tuned["fid"],
                    "unet_evaluations_method": method["unet_evaluations"],
                    "unet_evaluations_finetuned": tuned["unet_evaluations"],
                    "intra_cluster_at_least": d["interval_95"][0] >= 0, "fid_at_least": method["fid"] <= tuned["fid"]})
    return out


def emoji_goal(r: dict) -> bool:
    return meets_goal(r) and (number(r, "grain_high") or 9.0) <= GOAL_GRAIN


def rows_for(category: str, k: int, finetune_steps: int) -> list[tuple[dict, list[str]]]:
    target = ["target=emoji", f"target.category={category}", f"target.num_references={k}", "mixing.reconstruct=0"]
    base = ["model=emoji_ddpm", *target]
    def fixed(t_m: int) -> tuple[dict, list[str]]:
        return {"category": category, "K": k, "setting": f"fixed t_M {t_m}"}, \
            [*base, "auto.enabled=false", f"mixing.t_M={t_m}"]

    rows = [({"category": category, "K": k, "setting": "default command"}, base),
            ({"category": category, "K": k, "setting": "auto"}, [*base, "experiment=auto"])]
    other = {"faces": 500, "flags": 300}.get(category)  # the t_M the world's default chooses for the other one
    if k == 64 and other:
        rows.append(fixed(other))
    if k == 10:  # what the t_M the world's default chooses from ten references costs against the other two
        rows += [fixed(t) for t in (300, 400)]
    if k == 64 and category == "faces":
        disk = ["model=tiny_ddpm", *target]
        rows += [({"category": category, "K": k, "setting": "disk model"}, disk),
                 ({"category": category, "K": k, "setting": "disk model, match_noise"},
                  [*disk, "sampler.match_noise=true"])]
    if k == 10 and finetune_steps:
        rows.append(({"category": category, "K": k, "setting": f"fine-tuned {finetune_steps} steps"},
                     [*base, "sampler=id", f"model.pretrained=FINETUNED:{category}"]))
    return rows


def run_rows(args) -> list[dict] | None:
    """Run (or read from the cache) the rows args asks for; None for one --part of several."""
    part, parts = map(int, args.part.split("/"))
    rows = [r for c in args.categories for k in args.K for r in rows_for(c, k, args.finetune_steps)
            if args.settings is None or r[0]["setting"] in args.settings][part::parts]
    extras = {}
    for label, overrides in rows:  # the fine-tuned model, made once per category (kept in the cache)
        for i, o in enumerate(overrides):
            if o.startswith("model.pretrained=FINETUNED:"):
                started, category = time.time(), o.split(":", 1)[1]
                folder, extras[category] = finetuned_with(
                    f"emoji-{category}-k{label['K']}", args.finetune_steps,
                    ["--model", "builtin:emoji_ddpm", "--references", str(label["K"]), "target=emoji",
                     f"target.category={category}"])
                overrides[i] = f"model.pretrained={folder}"
                print(f"fine-tuned on {category}: {extras[category]} ({time.time() - started:.0f}s here)", flush=True)
    results = run_study("emoji", rows, args, on_metrics=emoji_columns)
    if parts > 1:
        return None
    for r in results:
        stats = extras.get(r["category"]) if r["setting"].startswith("fine-tuned") else None
        if stats and "error" not in r:
            r["unet_evaluations"] = (r["unet_evaluations"] or 0) + stats["unet_evaluation_equivalents"]
        r["meets_goal"] = emoji_goal(r)
        r["label"] = f"{r['category']} K{r['K']} {r['setting']}"
    if args.settings is not None:  # the committed rows of the other settings, in the study's order
        def key(r: dict) -> tuple:
            return r["category"], int(float(r["K"])), r["setting"]

        order = [key(label) for c in CATEGORIES for k in (64, 10) for label, _ in rows_for(c, k, args.finetune_steps)]
        results = with_committed("emoji", args, results, order, key)
    return results


def main(argv=None) -> None:
    p = parser(__doc__, report=True)
    p.set_defaults(count=256)
    p.add_argument("--categories", nargs="+", default=CATEGORIES)
    p.add_argument("--K", nargs="+", type=int, default=[64, 10])
    p.add_argument("--finetune-steps", type=int, default=500,
                   help="the fine-tuning baseline's budget (0: none): 500 steps of the 10 references, 15,000 UNet "
                        "evaluation equivalents, about what the method spends on a row")
    p.add_argument("--part", default="0/1", help="i/n: run only every n-th row from the i-th (rows are cached)")
    p.add_argument("--settings", nargs="+", default=None,
                   help="run only these settings and keep the committed CSV's other rows")
    args = p.parse_args(argv)
    results = read_rows("emoji", args) if args.report else run_rows(args)
    if results is None:
        return
    fresh = [] if args.report else ten_shot(results)
    # the committed comparison stands until both of a category's rows are rerun
    pairs = fresh or read_rows("emoji", args, "emoji_tenshot.csv", missing_ok=True)
    for r in results:
        r.pop("intra_cluster_each", None)
    count = int(results[0]["samples"]) if results and results[0].get("samples") else args.count
    publish("emoji", args, results,
            f"{count} samples per row; emoji_ddpm unless named; {LEGEND}\n\n"
            + markdown(results, ["category", "K", "setting", *COLUMNS, "auto_chosen", "auto_t_M", "unet_evaluations",
                                 "meets_goal"])
            + ("\n\nTen shots, the default command against fine-tuning: intra-cluster diversity (classifier features) "
               "of the method minus fine-tuning's, paired by reference, with a bootstrap 95% interval over the "
               "clusters both scored; intra_cluster_at_least: that interval's lower bound >= 0; fid_at_least: the "
               "method's FID <= fine-tuning's (point estimates).\n\n" + markdown(pairs, TEN_SHOT_COLUMNS)
               if pairs else ""),
            lambda rs, path: bar_figure(rs, "label", ["target_rate", "memorised_pixel", "diversity_pixel", "grain"],
                                        path, f"emoji world, {count} samples each"),
            tables={"emoji_tenshot.csv": fresh} if fresh else None)


if __name__ == "__main__":
    main()
