"""Speed ratios, ours vs the naive way, measured in one run (this machine is shared and noisy).

    make bench            # or: python -m benchmarks [--quick]

Every figure is printed and written to benchmarks/results/cpu.json (with the machine, the versions and the
date); README's Benchmarks section is generated from that file (tests/test_numbers_come_from_files.py checks it).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import unseen
from unseen.method import ddim
from unseen.method.geometry import criteria, random_subsets

RESULTS: dict[str, dict] = {}  # name -> the figures of one benchmark, written to cpu.json


def record(name: str, **figures) -> None:
    RESULTS[name] = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}


def load(*overrides: str):
    """A model through the Python API (the same loading as a run's)."""
    return unseen.prepare(*overrides, "eval=none", target=False).loaded.model


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_batched_inversion(model, images: torch.Tensor, steps: int, label: str) -> None:
    """The same inversion with the UNet called on every image at once and on one image at a time."""
    n, grid = len(images), ddim.time_grid(300, steps)
    batched = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=n)
    single = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=1)
    t_batched = best_of(lambda: ddim.invert_to(batched, images, grid), 2)
    t_single = best_of(lambda: ddim.invert_to(single, images, grid), 1)
    print(f"invert {n} images ({label}) x {steps} steps: batched {t_batched:.2f}s, one at a time {t_single:.2f}s "
          f"-> {t_single / t_batched:.1f}x")
    record(f"batched_inversion_{images.shape[-1]}px", images=n, steps=steps, batched_s=t_batched,
           one_at_a_time_s=t_single, speedup=t_single / t_batched)


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
    record(f"geometry_D{d}", candidates=n, references=k, subset=m, ours_ms=t_ours * 1e3, naive_ms=t_naive * 1e3,
           speedup=t_naive / t_ours, max_difference=err, naive_extra_mib=n * m * d * 8 / 2**20)


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
    record(f"generate_overhead_{size}px", images=n, unet_calls=len(times), generate_s=t_ours, bare_unet_s=t_bare,
           ratio=t_ours / t_bare)


def paper_adm_random():
    """The 256 px ADM of the paper's dog model (the config unseen.models.convert builds for afhq_p2.pt), random weights."""
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=256, in_channels=3, out_channels=6, layers_per_block=1,
                       block_out_channels=(128, 128, 256, 256, 512, 512),
                       down_block_types=("ResnetDownsampleBlock2D",) * 4 + ("AttnDownBlock2D", "ResnetDownsampleBlock2D"),
                       up_block_types=("ResnetUpsampleBlock2D", "AttnUpBlock2D") + ("ResnetUpsampleBlock2D",) * 4,
                       flip_sin_to_cos=True, freq_shift=0, norm_eps=1e-5, attention_head_dim=64,
                       attn_norm_num_groups=32, resnet_time_scale_shift="scale_shift", downsample_type="resnet",
                       upsample_type="resnet").eval()


def small_unet_256(folder):
    """A small random-weight 256 px UNet (and its schedule) as a diffusers folder: the memory benchmark's model."""
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=256, block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=8,
                       down_block_types=("DownBlock2D",) * 4, up_block_types=("UpBlock2D",) * 4)
    unet.save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(folder / "scheduler")
    return folder


# VmHWM, the address space's high-water mark, starts afresh at exec; getrusage's ru_maxrss does not (Linux keeps
# it across execve, so a child of a large benchmark process would report the parent's peak).
RSS_PROBE = ("import runpy, sys; sys.argv = sys.argv[1:]\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "finally:\n    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
             "    print('PEAK_RSS_KB', hwm, flush=True)")


def peak_rss_mb(overrides: list[str], cwd) -> float:
    import os
    import subprocess
    import sys
    from pathlib import Path

    run_py = Path(__file__).resolve().parents[1] / "run.py"
    proc = subprocess.run([sys.executable, "-c", RSS_PROBE, str(run_py), *overrides], cwd=cwd, capture_output=True,
                          text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=3600)
    line = [x for x in proc.stdout.splitlines() if x.startswith("PEAK_RSS_KB")]
    if proc.returncode or not line:
        raise RuntimeError(proc.stderr[-2000:])
    return int(line[0].split()[1]) / 1024


def _random_images(folder: Path, n: int) -> None:
    """``n`` 256 px PNGs of uniform noise in ``folder``."""
    import numpy as np
    from PIL import Image

    g = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(g.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")


def bench_memory(quick: bool = False) -> None:
    """Peak RSS of a whole run at 256 px as K, the samples and the held-out images each grow 4x. The method
    needs the K references and their latents (K x D floats); nothing should grow with the samples (written and
    scored chunk by chunk) or the held-out images (read and featurised batch by batch)."""
    import tempfile

    base = {"K": 16, "samples": 64, "held-out": 64}
    scale = 2 if quick else 4
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = small_unet_256(tmp / "model")
        images = tmp / "images"
        images.mkdir()
        _random_images(images, base["K"] * scale + base["held-out"] * scale)
        d_mb = 3 * 256 * 256 * 4 / 2**20  # one image (or latent) in float32

        def overrides(k, n, e, name):
            return [f"model.pretrained={model}", "model.checkpoint=null", "target=folder", f"target.path={images}",
                    f"target.num_references={k}", f"sampler.count={n}", f"target.num_eval={e}", "eval=unet",
                    "mixing.t_M=20", "mixing.reconstruct=0", "prior=residual", "logger=none", "progress=false",
                    "cache_dir=null", "sampler.batch_size=32", "model.batch_size=32", f"hydra.run.dir={tmp}/{name}",
                    # draws are made candidate_batch at a time in float64: a fixed cost (256 x D x 8 bytes by
                    # default), kept below the base sample count here so that it does not pass for growth
                    "geometry.candidate_batch=32",
                    # the samples kept for pixel diversity and the grid: a fixed cost, below the base count here
                    "eval.pixel_samples=32"]

        rows = [("base", base["K"], base["samples"], base["held-out"]),
                (f"K x{scale}", base["K"] * scale, base["samples"], base["held-out"]),
                (f"samples x{scale}", base["K"], base["samples"] * scale, base["held-out"]),
                (f"held-out x{scale}", base["K"], base["samples"], base["held-out"] * scale)]
        peaks = {name: peak_rss_mb(overrides(k, n, e, name.replace(" ", "")), tmp) for name, k, n, e in rows}
    print(f"peak RSS at 256 px (small random UNet; one float32 image = {d_mb:.2f} MiB):")
    b, table = peaks["base"], []
    for name, k, n, e in rows:
        grown = peaks[name] - b
        extra = {"K": k - base["K"], "samples": n - base["samples"], "held-out": e - base["held-out"]}
        which = next((w for w, v in extra.items() if v), None)
        copies = grown / (extra[which] * d_mb) if which else None
        per = f", {copies:.1f} image-sized copies per added {which} item" if which else ""
        print(f"  {name:<14} K={k:<4} samples={n:<4} held-out={e:<4} peak {peaks[name]:7.0f} MiB "
              f"(+{grown:5.0f}){per}")
        table.append({"row": name, "K": k, "samples": n, "held_out": e, "peak_mib": round(peaks[name]),
                      "growth_mib": round(grown), "copies_per_item": None if copies is None else round(copies, 2)})
    RESULTS["memory_256px"] = {"image_mib": round(d_mb, 3), "rows": table}


def bench_whole_job(*overrides: str, name: str = "whole_job_default") -> dict:
    """A job (the default one unless ``overrides``; a fresh cache) against the network work it does: per stage, the
    seconds spent inside the denoiser's calls (every DDIM step's, through ``NoisePredictor``), the UNet's
    middle-block feature passes (memorisation, ``eval=unet``, auto's score) and, for a latent model, the
    autoencoder's encode and decode (the public hook ``unseen.timing``), over the stage's wall time (on a GPU:
    synchronised), timed in the run itself so
    that the machine's drift between two measurements cannot enter the ratio. 1 = the networks are the only cost;
    the rest is the pipeline's own work (loading, drawing, scoring, writing)."""
    import tempfile

    from unseen import timing

    with timing.record() as spent, tempfile.TemporaryDirectory() as tmp:
        m = unseen.run("logger=none", "progress=false", f"cache_dir={tmp}/cache", *overrides,
                       output_dir=f"{tmp}/run").metrics
    stages = {k: {"seconds": sec, "unet_evaluations": m["unet_evaluations"].get(k, 0),
                  "network_seconds": round(spent.get(k, 0.0), 3),
                  "efficiency": round(spent.get(k, 0.0) / sec, 3) if sec else None}
              for k, sec in m["seconds"].items()}
    total = sum(spent.values())
    print(f"whole job ({' '.join(overrides) or 'default'}, fresh cache): inside the networks {total:.1f}s of "
          f"{m['total_seconds']:.1f}s -> efficiency {total / m['total_seconds']:.2f}; " + ", ".join(
              f"{k} {v['efficiency']:.2f}" for k, v in stages.items() if v["network_seconds"]))
    record(name, overrides=list(overrides), wall_s=m["total_seconds"], network_s=total,
           efficiency=total / m["total_seconds"], autoencoder_evaluations=m.get("autoencoder_evaluations"),
           stages=stages)
    return RESULTS[name]


def bench_auto_cost(*overrides: str) -> None:
    """experiment=auto on the default target, successive halving (the default) and the exhaustive search it
    replaced (``auto.eta=1``), each on a fresh cache, against the plain run of the config it chose (a fresh cache
    too): UNet evaluations and seconds, one after the other in this process."""
    import tempfile

    common = ["logger=none", "progress=false", "experiment=auto", *overrides]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("halving", []), ("exhaustive", ["auto.eta=1"])):
            m = unseen.run(*common, *extra, f"cache_dir={tmp}/{label}", output_dir=f"{tmp}/{label}").metrics
            runs[label] = {"chosen": m["auto"]["chosen"], "stage_s": m["seconds"]["auto"], "wall_s": m["total_seconds"],
                           "unet_evaluations": m["unet_evaluations"]["auto"], "cost": m["auto"]["cost"]}
        chosen = runs["halving"]["chosen"]
        fixed = [*unseen.compose(*common).auto.candidates[chosen["candidate"]], f"mixing.t_M={chosen['t_M']}",
                 "auto.enabled=false"]
        p = unseen.run(*common, *fixed, f"cache_dir={tmp}/plain", output_dir=f"{tmp}/plain").metrics
    plain = {"overrides": fixed, "wall_s": p["total_seconds"], "unet_evaluations": sum(p["unet_evaluations"].values())}
    for label, r in runs.items():
        r["evaluations_ratio"] = r["unet_evaluations"] / plain["unet_evaluations"]
        r["seconds_ratio"] = r["stage_s"] / plain["wall_s"]
        print(f"experiment=auto ({label}): chose {r['chosen']['candidate']} at t_M {r['chosen']['t_M']}; "
              f"{r['unet_evaluations']:,} UNet evaluations and {r['stage_s']:.0f} s = {r['evaluations_ratio']:.2f}x "
              f"and {r['seconds_ratio']:.2f}x the plain run's ({plain['unet_evaluations']:,}, {plain['wall_s']:.0f} s)")
    record("auto_cost", overrides=list(overrides), plain=plain, **runs)


def bench_whole_jobs() -> None:
    bench_whole_job()
    bench_whole_job("model=tiny_ldm", name="whole_job_tiny_ldm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "cpu.json"))
    parser.add_argument("--only", choices=["whole_job", "auto_cost"], help="run this one and update its entry in --out")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    if args.only:
        import json

        bench_whole_jobs() if args.only == "whole_job" else bench_auto_cost()
        previous = json.loads(Path(args.out).read_text())
        previous["benchmarks"].update(RESULTS)
        Path(args.out).write_text(json.dumps(previous, indent=2) + "\n")
        return
    tiny = load()
    n = 16 if args.quick else 32
    smileys = unseen.prepare("target=smileys", f"target.num_references={n}", "eval=none").target.images
    bench_batched_inversion(tiny, smileys, 5 if args.quick else 10, "32 px, tiny model")
    bench_geometry(256, 64, 3 * 32 * 32)
    bench_geometry(256, 64, 3 * 256 * 256 // 4 if args.quick else 3 * 256 * 256)
    bench_generate_overhead(tiny.unet, tiny.alphas_cumprod, 64, 10 if args.quick else 30, "tiny 32 px DDPM")
    from diffusers import DDPMScheduler

    ac = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()
    bench_generate_overhead(paper_adm_random(), ac, 1 if args.quick else 2, 3, "256 px ADM (random weights)")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        small = load(f"model.pretrained={small_unet_256(Path(tmp))}")
    n = 8 if args.quick else 16
    bench_batched_inversion(small, torch.rand(n, 3, 256, 256) * 2 - 1, 3, "256 px, small random UNet")
    bench_memory(args.quick)
    bench_whole_jobs()
    bench_auto_cost()
    write(args.out, args.quick)


def write(path: str, quick: bool) -> None:
    import datetime
    import json
    import os
    import platform

    import diffusers

    out = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python":
                       platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
                       "processor": platform.processor() or platform.machine()},
           "date": datetime.date.today().isoformat(), "quick": quick, "benchmarks": RESULTS}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
