"""The field's published 10-shot numbers, the ones a user of the 256 px target presets compares against.

    python -m experiments.published      # results/published/fewshot_10shot.csv -> fewshot_10shot.md

The CSV is typed in, not measured: each row names the paper and table it was read from. Offline, the papers'
own PDFs could not be opened here; the rows were read from public transcriptions of the ANT paper's Tables 1
and 2 (two independent copies agree on every value), and its CDC, DCL and DDPM-PA values also agree with a
separate summary of the DDPM-PA paper. Check a row against its source before you cite it.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDER = HERE / "results" / "published"
COLUMNS = [("FFHQ -> babies", "fid"), ("FFHQ -> babies", "intra_lpips"), ("FFHQ -> sunglasses", "fid"),
           ("FFHQ -> sunglasses", "intra_lpips"), ("FFHQ -> Raphael", "intra_lpips"),
           ("LSUN church -> haunted houses", "intra_lpips"), ("LSUN church -> landscape drawings", "intra_lpips")]
SHORT = {"FFHQ -> babies": "babies", "FFHQ -> sunglasses": "sunglasses", "FFHQ -> Raphael": "Raphael",
         "LSUN church -> haunted houses": "haunted houses", "LSUN church -> landscape drawings": "landscapes"}
NAMES = {"fid": "FID", "intra_lpips": "intra-LPIPS"}


def table(rows: list[dict]) -> str:
    """One line per method, one column per (task, metric); an empty cell is a value the source does not give."""
    cell = {(r["method"], r["task"], r["metric"]): r["value"] + (f" ± {r['std']}" if r["std"] else "") for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    kinds = {r["method"]: r["kind"] for r in rows}
    head = ["method", "kind", *(f"{SHORT[t]} {NAMES[m]}" for t, m in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method in methods:
        lines.append("| " + " | ".join([method, kinds[method],
                                        *(cell.get((method, t, m), "") for t, m in COLUMNS)]) + " |")
    return "\n".join(lines) + "\n"


def render(path: Path) -> str:
    """The markdown README and EXPERIMENTS.md show, made from the typed-in CSV at ``path``."""
    rows = list(csv.DictReader(path.open()))
    sources = sorted({r["source"] for r in rows})
    return ("Published 10-shot results at 256 px (typed in from the sources below, not measured here; "
            "`experiments/published.py` says how they were read). FID (lower is better) against the whole target "
            "set with Inception features; intra-LPIPS (higher is more diverse) as the field computes it, ± "
            "as the source gives it. Sources: " + "; ".join(sources) + ". Not found in any text readable "
            "offline, so not tabled: the training-free methods' numbers (Unseen Diffusion, CRDI).\n\n" + table(rows))


def main() -> None:
    text = render(FOLDER / "fewshot_10shot.csv")
    (FOLDER / "fewshot_10shot.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
