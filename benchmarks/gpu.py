"""GPU figures the CPU cannot give: UNet throughput of the paper's 256 px ADM (random weights) by batch size and
arithmetic, and the tiny world's new code paths end to end on CUDA.

    python -m benchmarks.gpu [--out DIR]        # on a machine with a GPU; ~5 min on an H100
    python -m benchmarks.gpu --whole-job [--out DIR]   # issue 17: a whole 256 px job, fp32 and bf16 + compile
    python -m benchmarks.gpu --whole-job --model small --k 8 --count 8 --settings fp32   # the same, tried on a CPU

Throughput is images through NoisePredictor per second over DDIM steps (what generation and inversion spend),
after a warm-up, synchronised; each setting's first call (and torch.compile's compilation) is not timed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def throughput(unet, alphas_cumprod, batch: int, dtype: torch.dtype, steps: int = 4, channels_last: bool = False,
               compile_: bool = False) -> float:
    from unseen.method import ddim

    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    net = torch.compile(unet) if compile_ else unet
    predictor = ddim.NoisePredictor(net, alphas_cumprod, batch_size=batch, model_dtype=dtype)
    x = torch.randn(batch, 3, 256, 256, device="cuda", dtype=torch.float64)
    grid = ddim.time_grid(300, steps)
    with torch.no_grad():
        ddim.generate(predictor, x, grid[:2])  # warm-up (and compilation)
        torch.cuda.synchronize()
        start = time.perf_counter()
        ddim.generate(predictor, x, grid)
        torch.cuda.synchronize()
    return batch * (steps + 1) / (time.perf_counter() - start)


def random_folder(folder, n: int, size: int, seed: int = 0):
    """``n`` smooth random colour fields as PNGs: a stand-in target (the content does not change the work)."""
    import torch.nn.functional as F
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    fields = F.interpolate(torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed)), size=size,
                           mode="bicubic", align_corners=False).clamp(0, 1)
    for i, x in enumerate((fields * 255).round().byte().permute(0, 2, 3, 1).numpy()):
        Image.fromarray(x).save(folder / f"{i:05d}.png")
    return folder


def whole_jobs(k: int, count: int, model: str = "adm", settings=(("fp32", False), ("bf16", True))) -> list[dict]:
    """The whole-job efficiency (benchmarks.__main__.bench_whole_job: time inside the UNet over wall time, per
    stage) of a 256 px job: the paper's ADM with random weights (``model='small'``: a small random UNet, to try
    this on a CPU), K references, ``count`` samples, batch 32, UNet-feature scores (offline)."""
    import tempfile
    from pathlib import Path

    from diffusers import DDPMScheduler

    from benchmarks.__main__ import bench_whole_job, paper_adm_random, small_unet_256

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if model == "adm":
            paper_adm_random().save_pretrained(tmp / "model" / "unet")
            DDPMScheduler(num_train_timesteps=1000).save_pretrained(tmp / "model" / "scheduler")
        else:
            small_unet_256(tmp / "model")
        target = random_folder(tmp / "target", k + 64, 256)
        for precision, compiled in settings:
            overrides = [f"model.pretrained={tmp / 'model'}", "target=folder", f"target.path={target}",
                         f"target.num_references={k}", "target.num_eval=64", f"sampler.count={count}",
                         "sampler.batch_size=32", "model.batch_size=32", f"model.precision={precision}",
                         f"model.compile={str(compiled).lower()}", "eval=unet", "mixing.reconstruct=16"]
            start = time.perf_counter()
            row = bench_whole_job(*overrides, name=f"whole_job_256_{precision}{'_compile' if compiled else ''}")
            rows.append({"precision": precision, "compile": compiled, "k": k, "samples": count,
                         "with_setup_s": round(time.perf_counter() - start, 1), **row})
    return rows


def adm_throughputs(compile_: bool) -> dict:
    """The paper's 256 px ADM (random weights) in images per second: fp32 and bf16, batch 16-64, channels_last
    or not, and with ``compile_`` compiled at batch 32 (its compilation's seconds beside it)."""
    from diffusers import DDPMScheduler

    from benchmarks.__main__ import paper_adm_random

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    ac = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()
    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "adm256": []}
    for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        for batch in (16, 32, 64):
            for cl in (False, True):
                unet = paper_adm_random().to("cuda", dtype)
                ips = throughput(unet, ac, batch, dtype, channels_last=cl)
                results["adm256"].append({"precision": dtype_name, "batch": batch, "channels_last": cl,
                                          "images_per_s": round(ips, 1),
                                          "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)})
                print(results["adm256"][-1], flush=True)
                del unet
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
    if compile_:
        for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            start = time.perf_counter()
            ips = throughput(paper_adm_random().to("cuda", dtype), ac, 32, dtype, compile_=True)
            results["adm256"].append({"precision": dtype_name, "batch": 32, "compile": True,
                                      "images_per_s": round(ips, 1),
                                      "with_compilation_s": round(time.perf_counter() - start, 1)})
            print(results["adm256"][-1], flush=True)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=None)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--whole-job", action="store_true", help="the whole-job efficiency of a 256 px job instead")
    p.add_argument("--k", type=int, default=256)
    p.add_argument("--count", type=int, default=1024)
    p.add_argument("--model", choices=["adm", "small"], default="adm")
    p.add_argument("--settings", nargs="+", default=["fp32", "bf16+compile"],
                   help="precision[+compile] of each whole job (on a CPU, compiling alone takes many minutes)")
    args = p.parse_args()
    if args.whole_job:
        settings = [(s.split("+")[0], s.endswith("+compile")) for s in args.settings]
        rows = whole_jobs(args.k, args.count, args.model, settings)
        text = json.dumps({"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                           "torch": torch.__version__, "whole_job_256": rows}, indent=2)
        print(text)
        if args.out:
            with open(f"{args.out}/gpu_whole_job.json", "w") as f:
                f.write(text + "\n")
        return
    results = adm_throughputs(args.compile)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(f"{args.out}/gpu_bench.json", "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
