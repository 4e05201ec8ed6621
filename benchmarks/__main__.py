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
from unseen.world import assets
from unseen.world.domains import sample


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_batched_inversion(n: int, steps: int) -> None:
    model = load_model(str(assets.TINY_DDPM))
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


def bench_generate_overhead(unet, alphas_cumprod, n: int, steps: int, label: str) -> None:
    """ddim.generate against the bare UNet forwards it makes (same batches, same times): what the float64
    DDIM arithmetic and the bookkeeping around the UNet cost."""
    size = unet.config.sample_size
    z = torch.randn(n, 3, size, size, dtype=torch.float64)
    grid = ddim.time_grid(500, steps)
    predictor = ddim.NoisePredictor(unet, alphas_cumprod, batch_size=n)
    times = grid[::-1]

    def bare():
        x = z.float()
        for t in times:
            unet(x, torch.full((n,), t))

    t_ours = best_of(lambda: ddim.generate(predictor, z, grid), 2)
    t_bare = best_of(bare, 2)
    print(f"generate, {label}, {n} images x {len(times)} UNet calls: ddim.generate {t_ours:.2f}s, bare UNet forwards "
          f"{t_bare:.2f}s -> ratio {t_ours / t_bare:.3f}")


def paper_adm_random():
    """The 256 px ADM of the paper's dog model (the config unseen.convert builds for afhq_p2.pt), random weights."""
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=256, in_channels=3, out_channels=6, layers_per_block=1,
                       block_out_channels=(128, 128, 256, 256, 512, 512),
                       down_block_types=("ResnetDownsampleBlock2D",) * 4 + ("AttnDownBlock2D", "ResnetDownsampleBlock2D"),
                       up_block_types=("ResnetUpsampleBlock2D", "AttnUpBlock2D") + ("ResnetUpsampleBlock2D",) * 4,
                       flip_sin_to_cos=True, freq_shift=0, norm_eps=1e-5, attention_head_dim=64,
                       attn_norm_num_groups=32, resnet_time_scale_shift="scale_shift", downsample_type="resnet",
                       upsample_type="resnet").eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    bench_batched_inversion(16 if args.quick else 32, 5 if args.quick else 10)
    bench_geometry(256, 64, 3 * 32 * 32)
    bench_geometry(256, 64, 3 * 256 * 256 // 4 if args.quick else 3 * 256 * 256)
    tiny = load_model(str(assets.TINY_DDPM))
    bench_generate_overhead(tiny.unet, tiny.alphas_cumprod, 64, 10 if args.quick else 30, "tiny 32 px DDPM")
    from diffusers import DDPMScheduler

    ac = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()
    bench_generate_overhead(paper_adm_random(), ac, 1 if args.quick else 2, 3, "256 px ADM (random weights)")


if __name__ == "__main__":
    main()
