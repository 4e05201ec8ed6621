"""README's Benchmarks tables, generated from the committed results (so no figure there lacks a source):

    python -m benchmarks.report          # rewrites the generated blocks of README.md (make bench runs it)

Each block sits between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``; tests/test_numbers_come_from_files.py checks
that README holds exactly what these functions make of the files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAPER_EVALUATIONS = 240_000  # 5000 samples x 40 steps + 1000 references x 39 steps (the paper's code's scale)


def cpu_block(cpu: dict) -> str:
    b, m = cpu["benchmarks"], cpu["machine"]
    g32, g256 = b["generate_overhead_32px"], b["generate_overhead_256px"]
    i32, i256 = b["batched_inversion_32px"], b["batched_inversion_256px"]
    lines = [f"`make bench` on {m['cpus']} CPU cores (torch {m['torch']}, {cpu['date']}; "
             f"`benchmarks/results/cpu.json`), ratios measured in one run:", "",
             "| what | result |", "| --- | --- |",
             f"| `ddim.generate` / the bare UNet forwards it makes | {g32['ratio']:.3f} (tiny 32 px model, "
             f"{g32['images']} images x {g32['unet_calls']} calls); {g256['ratio']:.3f} (the paper's 256 px ADM, "
             f"random weights, {g256['images']} images x {g256['unet_calls']} calls) |",
             f"| batched / one-image-at-a-time inversion | {i32['speedup']:.1f}x at 32 px (tiny model, {i32['images']} "
             f"images); {i256['speedup']:.1f}x at 256 px (a small random UNet, {i256['images']} images)"
             + (": SLOWER batched on this CPU, where large activations fall out of cache; use a small "
                "`model.batch_size` on CPUs" if i256["speedup"] < 1 else "") + " |",
             "| geometry criteria from inner products / gathered differences | "
             + ", ".join(f"{v['speedup']:.0f}x (D = {int(k.split('_D')[1]):,}, the naive way holding "
                         f"{v['naive_extra_mib']:,.0f} MiB)" for k, v in sorted(
                             ((k, v) for k, v in b.items() if k.startswith("geometry_")),
                             key=lambda kv: kv[1]["naive_extra_mib"])) + " |"]
    for key, what in (("whole_job_default", "whole default job"), ("whole_job_tiny_ldm", "whole `model=tiny_ldm` job")):
        whole = b.get(key)
        if not whole:
            continue
        net_s = whole.get("network_s", whole.get("unet_s"))
        parts = ", ".join(f"{k} {v['efficiency']:.2f}" for k, v in whole["stages"].items()
                          if v.get("network_seconds", v.get("unet_seconds")))
        ae = whole.get("autoencoder_evaluations")
        lines.append(f"| {what} (fresh cache): seconds inside the networks' forwards (UNet"
                     + (", autoencoder encode and decode" if ae else "") + f") / its wall time | "
                     f"{whole['efficiency']:.2f} ({net_s:.1f} s of {whole['wall_s']:.1f} s; per stage: {parts}"
                     + (f"; {ae['encoder']} images encoded, {ae['decoder']} decoded" if ae else "")
                     + "; the rest is loading, drawing, scoring and writing) |")
    cost = b.get("auto_cost")
    if cost:
        plain = cost["plain"]
        lines.append("| `experiment=auto` (fresh cache) / the plain run of the config it chose (fresh cache), in UNet "
                     "evaluations and seconds | " + "; ".join(
                         f"{label} {r['evaluations_ratio']:.1f}x and {r['seconds_ratio']:.1f}x "
                         f"({r['unet_evaluations']:,} evaluations, {r['stage_s']:.0f} s; chose {r['chosen']['candidate']} at t_M "
                         f"{r['chosen']['t_M']})" for label, r in (("successive halving", cost["halving"]),
                                                                   ("exhaustive", cost["exhaustive"])))
                     + f" against {plain['unet_evaluations']:,} evaluations, {plain['wall_s']:.0f} s |")
    mem = b["memory_256px"]
    lines += ["", f"Peak memory of a whole run at 256 px (a small random-weight UNet; `model.batch_size=32`; each row "
              f"grows one quantity; one float32 image is {mem['image_mib']:.2f} MiB):", "",
              "| run | K | samples | held-out | peak RSS |", "| --- | --- | --- | --- | --- |"]
    for r in mem["rows"]:
        grown = "" if r["row"] == "base" else f" ({r['growth_mib']:+d})"
        lines.append(f"| {r['row']} | {r['K']} | {r['samples']} | {r['held_out']} | {r['peak_mib']} MiB{grown} |")
    return "\n".join(lines)


def gpu_block(gpu: dict) -> str:
    rows = gpu["adm256"]

    def rate(precision, batch, channels_last=False, compile=False):
        return next(r["images_per_s"] for r in rows if r["precision"] == precision and r["batch"] == batch
                    and r.get("channels_last", False) == channels_last and r.get("compile", False) == compile)

    def compiled(precision):
        return next(r for r in rows if r["precision"] == precision and r.get("compile"))

    lines = [f"On a GPU (`python -m benchmarks.gpu`, one {gpu['device']} lent for one session; torch {gpu['torch']}; "
             f"TF32 matmuls off, `torch.backends.cuda.matmul.allow_tf32 = False`; `benchmarks/results/h100_adm256.json`): "
             f"images per second through the paper's 256 px ADM (random weights) over DDIM steps, after a warm-up:", "",
             "| precision | batch 16 | batch 32 | batch 64 | channels_last (batch 32) | torch.compile (batch 32) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for p in ("fp32", "bf16"):
        c = compiled(p)
        lines.append(f"| {p} | {rate(p, 16):.0f} | {rate(p, 32):.0f} | {rate(p, 64):.0f} | "
                     f"{rate(p, 32, channels_last=True):.0f} (slower) | {c['images_per_s']:.0f} "
                     f"({c['with_compilation_s']:.0f} s to compile) |")
    gain64 = [rate(p, 64) / rate(p, 32) - 1 for p in ("fp32", "bf16")]
    slower = [1 - rate(p, b, channels_last=True) / rate(p, b) for p in ("fp32", "bf16") for b in (16, 32, 64)]
    speedup = {p: compiled(p)["images_per_s"] / rate(p, 32) for p in ("fp32", "bf16")}
    peak = {p: next(r["peak_gib"] for r in rows if r["precision"] == p and r["batch"] == 32
                    and not r.get("channels_last") and not r.get("compile")) for p in ("fp32", "bf16")}
    eager, fast = PAPER_EVALUATIONS / rate("fp32", 32) / 60, PAPER_EVALUATIONS / compiled("bf16")["images_per_s"] / 60
    lines += ["", f"So on this GPU: batch 32 is enough (64 adds {min(gain64):.0%}-{max(gain64):.0%}), "
              f"`model.channels_last` makes this UNet {min(slower):.0%}-{max(slower):.0%} SLOWER (leave it off), "
              f"`model.compile=true` gives {speedup['fp32']:.2f}x (fp32) and {speedup['bf16']:.2f}x (bf16) once "
              f"compiled, and bf16 gives {rate('bf16', 32) / rate('fp32', 32):.2f}x over fp32 eager at batch 32 "
              f"(`model.precision=bf16`; the DDIM arithmetic stays float64). Peak GPU memory at batch 32: "
              f"{peak['fp32']} GiB (fp32), {peak['bf16']} GiB (bf16). The paper's scale (~{PAPER_EVALUATIONS:,} UNet "
              f"evaluations) is ~{eager:.0f} min in fp32 eager and ~{fast:.0f} min compiled in bf16 "
              f"(+{compiled('bf16')['with_compilation_s']:.0f} s to compile)."]
    return "\n".join(lines)


def blocks() -> dict[str, str]:
    out = {}
    if (RESULTS / "cpu.json").is_file():
        out["cpu"] = cpu_block(json.loads((RESULTS / "cpu.json").read_text()))
    out["gpu"] = gpu_block(json.loads((RESULTS / "h100_adm256.json").read_text()))
    return out


def fill(text: str, generated: dict[str, str]) -> str:
    """``text`` with every ``<!-- bench:NAME -->`` block replaced by ``generated[NAME]``."""
    for name, body in generated.items():
        pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README.md has no <!-- bench:{name} --> block")
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main() -> None:
    readme = ROOT / "README.md"
    readme.write_text(fill(readme.read_text(), blocks()))
    print(f"rewrote the benchmark blocks of {readme}")


if __name__ == "__main__":
    main()
