"""Speed ratios, ours vs the naive way, measured in one run (this machine is shared and noisy).

    make bench            # or: python -m benchmarks [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch

from unseen import ddim
from unseen.geometry import criteria, random_subsets
from unseen.models import load_model
from unseen.world.domains import sample


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_batched_inversion(n: int, steps: int) -> None:
    model = load_model("builtin:tiny_ddpm")
    images = sample("smileys", n)
    grid = ddim.time_grid(300, steps)
    batched = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=n)
    single = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=1)
    t_batched = best_of(lambda: ddim.invert(batched, images, grid), 2)
    t_single = best_of(lambda: ddim.invert(single, images, grid), 1)
    print(f"invert {n} images x {steps} steps: batched {t_batched:.2f}s, one at a time {t_single:.2f}s "
          f"-> {t_single / t_batched:.1f}x")


def naive_criteria(z, refs, subsets):
    r = refs[subsets]  # (N, m, D): what the inner-product form never builds
    diff = r - z[:, None]
    dist = diff.norm(dim=-1)
    cos0 = (r * z[:, None]).sum(-1) / (r.norm(dim=-1) * z.norm(dim=-1, keepdim=True))
    cos1 = (diff[:, :-1] * diff[:, 1:]).sum(-1) / (dist[:, :-1] * dist[:, 1:])
    deg = lambda c: torch.rad2deg(torch.arccos(c.clamp(-1, 1)))  # noqa: E731
    return {"distance": dist.mean(1), "origin_angle": deg(cos0).mean(1), "pair_angle": deg(cos1).mean(1)}


def bench_geometry(n: int, k: int, d: int, m: int = 10) -> None:
    g = torch.Generator().manual_seed(0)
    refs = torch.randn(k, d, generator=g, dtype=torch.float64)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    subsets = random_subsets(n, k, m, g)
    ours = criteria(z, refs, subsets)
    theirs = naive_criteria(z, refs, subsets)
    err = max(float((ours[c] - theirs[c]).abs().max()) for c in ours)
    t_ours = best_of(lambda: criteria(z, refs, subsets))
    t_naive = best_of(lambda: naive_criteria(z, refs, subsets))
    print(f"geometry criteria, {n} candidates x {m} of {k} references, D = {d}: inner products {t_ours * 1e3:.0f} ms, "
          f"gathered differences {t_naive * 1e3:.0f} ms -> {t_naive / t_ours:.1f}x (max difference {err:.1e}); "
          f"the naive way also holds {n * m * d * 8 / 2**20:.0f} MiB of differences")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    bench_batched_inversion(16 if args.quick else 32, 5 if args.quick else 10)
    bench_geometry(256, 64, 3 * 32 * 32)
    bench_geometry(256, 64, 3 * 256 * 256 // 4 if args.quick else 3 * 256 * 256)


if __name__ == "__main__":
    main()
