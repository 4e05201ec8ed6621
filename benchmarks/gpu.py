"""GPU figures the CPU cannot give: UNet throughput of the paper's 256 px ADM (random weights) by batch size and
arithmetic, and the tiny world's new code paths end to end on CUDA.

    python -m benchmarks.gpu [--out DIR]        # on a machine with a GPU; ~5 min on an H100

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
    from unseen import ddim

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=None)
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    from benchmarks.__main__ import paper_adm_random
    from diffusers import DDPMScheduler

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
    if args.compile:
        for dtype_name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            start = time.perf_counter()
            ips = throughput(paper_adm_random().to("cuda", dtype), ac, 32, dtype, compile_=True)
            results["adm256"].append({"precision": dtype_name, "batch": 32, "compile": True,
                                      "images_per_s": round(ips, 1),
                                      "with_compilation_s": round(time.perf_counter() - start, 1)})
            print(results["adm256"][-1], flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(f"{args.out}/gpu_bench.json", "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
