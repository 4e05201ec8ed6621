"""The pipeline end to end on the tiny world, and every bad input's one-line error."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tests.helpers import make_cfg, run
from unseen.errors import GeometryRejectError, NonFiniteError, UserError
from unseen.worlds.tiny.domains import render

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run(make_cfg([], out))


def test_a_run_writes_its_results(small_run):
    out, metrics = small_run
    for name in ("config.yaml", "grid.png", "reconstruction.png", "metrics.json", "latents.safetensors", "split.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "samples").glob("*.png"))) == 8
    assert not (out / ".partial").exists()
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    # UNet evaluations: K references x 10 steps up; 4 references and 8 samples x 11 steps down
    assert metrics["unet_evaluations"] == {"invert": 200, "reconstruct": 44, "generate": 88}
    assert metrics["reconstruction_psnr"]["count"] == 4 and metrics["reconstruction_psnr"]["mean"] > 28
    assert metrics["samples"]["count"] == 8 and metrics["domain_rates"]["count"] == 8
    assert sum(metrics["domain_rates"]["rates"].values()) == pytest.approx(1.0)
    latents = load_file(out / "latents.safetensors")
    assert latents["references"].shape == (20, 3, 32, 32) and latents["samples"].shape == (8, 3, 32, 32)
    assert metrics["prior"]["kind"] == "scalar" and metrics["geometry"]["acceptance_rate"] == 1.0
    f = metrics["fid_kid"]
    assert f["feature"] == "domain" and f["num_real"] == 32 and f["num_fake"] == 8 and f["fid"] > 0
    assert metrics["memorisation"]["num_samples"] == 8 and metrics["memorisation"]["num_references"] == 20
    import diffusers

    import unseen

    p = metrics["provenance"]
    assert p["unseen"] == unseen.__version__ and p["torch"] == torch.__version__ and p["diffusers"] == diffusers.__version__
    assert p["model_identity"] == metrics["model_identity"] and p["model_location"]
    assert p["device"] == "cpu" and p["device_name"]
    assert p["git"] is None or len(p["git"]["commit"]) == 40


def test_same_seed_same_samples(small_run, tmp_path):
    out, _ = small_run
    run(make_cfg([], tmp_path / "again"))
    for i in range(8):
        a = np.asarray(Image.open(out / "samples" / f"{i:05d}.png"))
        np.testing.assert_array_equal(a, np.asarray(Image.open(tmp_path / "again" / "samples" / f"{i:05d}.png")))
    run(make_cfg(["seed=1"], tmp_path / "other"))
    assert not np.array_equal(load_file(out / "latents.safetensors")["samples"],
                              load_file(tmp_path / "other" / "latents.safetensors")["samples"])


@pytest.mark.parametrize("source", ["slerp", "replay", "id", "sdedit", "paper"])
def test_other_latent_sources_share_the_generate_path(source, tmp_path):
    metrics = run(make_cfg([f"sampler={source}", "sampler.count=4", "mixing.reconstruct=0"], tmp_path))
    assert metrics["samples"]["count"] == 4 and metrics["source"] == source
    if source == "replay":  # replay is reconstruction: the samples are the references, nearly
        refs = torch.stack([torch.from_numpy(render("smileys", i, 0).copy()) for i in range(4)]).float()
        samples = torch.stack([torch.from_numpy(np.asarray(Image.open(tmp_path / "samples" / f"{i:05d}.png")))
                               for i in range(4)]).float()
        mse = (refs - samples).pow(2).mean() / 255**2 * 4
        assert 10 * torch.log10(4 / mse) > 28
    if source in ("id", "sdedit"):  # the model's own prior, or references noised forward: no inversion
        assert metrics["unet_evaluations"] == {"generate": 4 * 11}
    if source == "paper":
        assert metrics["geometry"]["accepted"] == 4


def test_reject_mode_reports_its_acceptance(tmp_path):
    metrics = run(make_cfg(["geometry=reject", "geometry.bandwidth=2", "prior=residual"], tmp_path))
    g = metrics["geometry"]
    assert g["accepted"] == 8 and 0 < g["acceptance_rate"] <= 1 and g["candidates"] >= 8
    assert set(g["targets"]) == {"distance", "origin_angle", "pair_angle"}


def test_a_folder_target_of_odd_images(tmp_path):
    folder = tmp_path / "faces"
    (folder / "nested").mkdir(parents=True)
    for i in range(26):
        img = Image.fromarray(render("smileys", i)).resize((48, 40))
        if i % 3 == 1:
            img = img.convert("RGBA")
        if i % 3 == 2:
            img = img.convert("L")
        img.save(folder / ("nested" if i % 2 else "") / f"{i}.png")
    (folder / "notes.txt").write_text("not an image")
    metrics = run(make_cfg(["target=folder", f"target.path={folder}", "target.num_eval=6"], tmp_path / "out"))
    assert metrics["num_references"] == 20 and "domain_rates" not in metrics
    assert metrics["fid_kid"]["num_real"] == 6 and metrics["fid_kid"]["kid_subset_size"] == 6
    split = json.loads((tmp_path / "out" / "split.json").read_text())
    assert len(split["references"]) == 20 and len(split["held_out"]) == 6
    assert not set(split["references"]) & set(split["held_out"])  # the seeded split is disjoint


def _nan_model(folder: Path) -> Path:
    from diffusers import DDPMScheduler, UNet2DModel

    unet = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    with torch.no_grad():
        unet.conv_out.bias.fill_(float("nan"))
    unet.save_pretrained(folder / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(folder / "scheduler")
    return folder


def _bad_inputs(tmp: Path):
    empty = tmp / "empty"
    empty.mkdir()
    broken = tmp / "broken"
    broken.mkdir()
    for i in range(24):  # 20 references + 4 held out: every file is read
        Image.fromarray(render("smileys", i)).save(broken / f"{i:02d}.png")
    (broken / "07.png").write_bytes(b"\x89PNG not really")
    a_file = tmp / "a_file"
    a_file.write_text("")
    return {
        "missing folder": (["target=folder", f"target.path={tmp}/nowhere"], UserError, "does not exist"),
        "no images": (["target=folder", f"target.path={empty}"], UserError, "holds no images"),
        "unreadable image": (["target=folder", f"target.path={broken}", "target.num_eval=4"], UserError,
                             "cannot read image .*07.png"),
        "too few for the prior": (["prior=pca", "target.num_references=8"], UserError, "needs at least 17 references"),
        "too few for the pca kernel": (["prior.kernel=pca", "target.num_references=8"], UserError,
                                       "with the pca kernel needs at least 17 references"),
        "too few for geometry": (["geometry=reject", "target.num_references=8"], UserError, "subset_size = 10"),
        "t_M zero": (["mixing.t_M=0"], UserError, r"mixing.t_M must be in \[1, T-1\]"),
        "t_M too large": (["mixing.t_M=1000"], UserError, r"mixing.t_M must be in \[1, T-1 = 999\]"),
        "more steps than t_M": (["mixing.t_M=5", "mixing.steps=10"], UserError, "at most t_M steps"),
        "t_M off the stride grid": (["mixing.steps=null", "mixing.t_M=205"], UserError, "multiple of mixing.stride"),
        "bandwidth zero": (["geometry=reject", "geometry.bandwidth=0"], UserError,
                           r"geometry.bandwidth must be a finite number in \(0, inf\)"),
        "count zero": (["sampler.count=0"], UserError, "sampler.count must be >= 1"),
        "batch size zero": (["sampler.batch_size=-1"], UserError, "batch_size must be >= 1"),
        "model returns NaN": ([f"model.pretrained={_nan_model(tmp / 'nan')}"], NonFiniteError, "NaN"),
        "reject cannot fill": (["geometry=reject", "geometry.bandwidth=0.01", "geometry.max_candidates=256"],
                               GeometryRejectError, "bandwidth 0.01"),
        "unwritable output": ([f"output_dir={a_file}/out"], UserError, "cannot write the output directory"),
    }




@pytest.mark.parametrize("case", ["missing folder", "no images", "unreadable image", "too few for the prior",
                                  "too few for geometry", "t_M zero", "t_M too large", "more steps than t_M",
                                  "t_M off the stride grid",
                                  "bandwidth zero", "count zero", "batch size zero", "model returns NaN",
                                  "reject cannot fill", "unwritable output"])
def test_bad_input_fails_clearly_and_writes_nothing(case, tmp_path):
    overrides, error, match = _bad_inputs(tmp_path)[case]
    out = tmp_path / "run"
    cfg = make_cfg(overrides + ([] if any(o.startswith("output_dir") for o in overrides) else [f"output_dir={out}"]))
    with pytest.raises(error, match=match):
        run(cfg)
    if out.exists():
        assert not (out / "metrics.json").exists() and not (out / "samples").exists()
        assert not (out / ".partial").exists()


def test_the_saved_latents_reproduce_the_samples_exactly(small_run):
    """latents.safetensors keeps the latents in the precision they were denoised from (float32)."""
    from unseen.images import to_uint8
    from unseen.method import ddim
    from unseen.models.loading import load_model

    out, _ = small_run
    z = load_file(out / "latents.safetensors")["samples"]
    model = load_model("builtin:tiny_ddpm")
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=64)
    again = ddim.generate(predictor, z, ddim.time_grid(200, 10))
    for i, img in enumerate(to_uint8(again)):
        assert (np.asarray(Image.open(out / "samples" / f"{i:05d}.png")) == img).all()


@pytest.mark.parametrize("option", ["model.channels_last=true", pytest.param("model.compile=true",
                                                                              marks=pytest.mark.slow)])
def test_gpu_options_run_and_key_the_cache_apart(option, small_run, tmp_path):
    """Off by default; each changes the UNet's arithmetic order, so it gets its own inversion cache key."""
    out, plain = small_run
    cache = tmp_path / "cache"
    run(make_cfg([], tmp_path / "plain", cache_dir=cache))
    metrics = run(make_cfg([option], tmp_path / "option", cache_dir=cache))
    assert metrics["unet_evaluations"]["invert"] == plain["unet_evaluations"]["invert"]  # not served from the cache
    a = load_file(out / "latents.safetensors")["samples"]
    b = load_file(tmp_path / "option" / "latents.safetensors")["samples"]
    assert (a - b).abs().max() < 1e-3  # the same run, up to the order of the arithmetic


def test_a_run_reports_intervals_ratios_precision_recall_and_memorisation_in_three_spaces(small_run):
    out, m = small_run
    d = m["domain_rates"]
    from unseen.evaluation.intervals import wilson_interval

    assert d["target_count"] == round(d["target_rate"] * 8) and d["interval_95"] == list(wilson_interval(d["target_count"], 8))
    assert m["diversity"]["pixel_ratio"] == pytest.approx(m["diversity"]["pixel"] / m["diversity"]["held_out_pixel"])
    assert m["diversity"]["feature_ratio"] > 0 and 0 <= m["precision_recall"]["precision"] <= 1
    for space in ("feature", "unet"):
        mem = m["memorisation"][space]
        assert mem["num_samples"] == 8 and mem["num_references"] == 20 and 0 <= mem["fraction_below_0.5"] <= 1
    assert m["memorisation"]["feature"]["space"] == "domain" and m["memorisation"]["unet"]["space"] == "unet"
    grid = Image.open(out / "nearest.png")
    assert grid.size[1] > 2 * 32  # samples above their nearest references


def test_stochastic_generation_is_seeded_and_differs_from_deterministic(tmp_path):
    a = run(make_cfg(["sampler.eta=1.0", "sampler.count=4", "mixing.reconstruct=0"], tmp_path / "a"))
    run(make_cfg(["sampler.eta=1.0", "sampler.count=4", "mixing.reconstruct=0"], tmp_path / "b"))
    run(make_cfg(["sampler.count=4", "mixing.reconstruct=0"], tmp_path / "c"))
    png = lambda d: np.asarray(Image.open(tmp_path / d / "samples" / "00000.png"))  # noqa: E731
    np.testing.assert_array_equal(png("a"), png("b"))
    assert not np.array_equal(png("a"), png("c")) and a["samples"]["count"] == 4


def test_mixture_with_symmetries_and_optimize_run(tmp_path):
    m = run(make_cfg(["prior=mixture", "prior.symmetries=[shift,hflip,hue]", "geometry=optimize",
                      "geometry.bandwidth=0.5", "geometry.subset_size=8", "mixing.reconstruct=0"], tmp_path))
    assert m["prior"]["kind"] == "mixture" and m["prior"]["symmetries"] == ["shift", "hflip", "hue"]
    g = m["geometry"]
    assert g["mode"] == "optimize" and g["accepted"] == 8 and g["acceptance_rate"] >= 0.5
    assert 0 <= g["moved_over_nearest"]["median"] <= g["moved_over_nearest"]["max"]


def test_auto_chooses_from_the_references_and_reports_every_candidate(tmp_path):
    candidates = ["+auto.candidates.residual=['prior.variance=residual']", "+auto.candidates.slerp=['sampler.source=slerp']",
                  "+auto.candidates.mixture=['prior.variance=mixture','prior.bandwidth=0.0']"]
    common = ["auto.enabled=true", "auto.t_M=[20,40]", "auto.count=4", *candidates, "mixing.stride=10",
              "mixing.steps=null", "mixing.reconstruct=0", "sampler.count=4"]
    m = run(make_cfg([*common, "auto.eta=1"], tmp_path / "all", cache_dir=tmp_path / "c"))
    a = m["auto"]
    assert len(a["candidates"]) == 6 and a["fitting_references"] == 15 and a["validation_references"] == 5
    assert a["rungs"] == [{"samples": 4, "candidates": 6}]
    best = min(a["candidates"], key=lambda r: r["score"])
    assert a["chosen"] == {"candidate": best["candidate"], "t_M": best["t_M"]} and m["t_M"] == best["t_M"]
    # bandwidth 0 replays the fitting references: every sample a pixel copy, so it is penalised
    copies = [r for r in a["candidates"] if r["candidate"] == "mixture"]
    assert all(r["memorised_pixel"] == 1.0 and r["score"] > 1 + 0.8 * 5 for r in copies)
    # one inversion to 40 serves both t_M: 20 references x 4 steps, and the main run reads the cache
    assert m["unet_evaluations"]["invert"] == 0 and a["unet_evaluations"] < m["unet_evaluations"]["auto"]
    assert m["unet_evaluations"]["auto"] == 20 * 4 + a["unet_evaluations"] == a["cost"]["unet_evaluations"]
    assert a["inversion"]["unet_evaluations"] == a["inversion"]["alone"] == 20 * 4
    # the plain run it chose, alone: its generation (4 samples) and its own inversion to the chosen t_M
    steps = m["t_M"] // 10
    assert a["cost"]["plain_run_unet_evaluations"] == m["unet_evaluations"]["generate"] + 20 * steps
    assert m["unet_evaluations"]["generate"] == 4 * (steps + 1)

    # successive halving (eta 3): all six on 2 samples, the best two on 4; a survivor's 4 samples are the same
    # draws as above, so its last score is the exhaustive one, and the winner is the best of the last rung
    h = run(make_cfg(common, tmp_path / "halving", cache_dir=tmp_path / "c"))["auto"]
    assert h["eta"] == 3 and h["rungs"] == [{"samples": 2, "candidates": 6}, {"samples": 4, "candidates": 2}]
    last = [r for r in h["candidates"] if r["rung"] == 1]
    assert len(last) == 2 and all(r["samples"] == 4 for r in last)
    exhaustive = {(r["candidate"], r["t_M"]): r["score"] for r in a["candidates"]}
    assert all(r["score"] == pytest.approx(exhaustive[r["candidate"], r["t_M"]], rel=1e-5) for r in last)
    won = min(last, key=lambda r: r["score"])
    assert h["chosen"] == {"candidate": won["candidate"], "t_M": won["t_M"]}
    out = [r for r in h["candidates"] if r["rung"] == 0]
    assert len(out) == 4 and all(r["samples"] == 2 for r in out)
    # the copies are cut at the first rung, and halving costs less than the exhaustive search
    assert all(r["rung"] == 0 for r in h["candidates"] if r["candidate"] == "mixture")
    assert h["unet_evaluations"] < a["unet_evaluations"]
    # the cache served this run's walk; its cost is still counted as if alone
    assert h["inversion"]["unet_evaluations"] == 0 and h["cost"]["unet_evaluations"] == h["unet_evaluations"] + 20 * 4


def test_rung_sizes_of_successive_halving():
    from unseen.job.auto import rung_sizes

    assert rung_sizes(25, 32, 3) == [4, 11, 32]  # 25 -> 9 -> 3 -> the winner
    assert rung_sizes(9, 32, 3) == [11, 32] and rung_sizes(3, 32, 3) == [32] and rung_sizes(1, 32, 3) == [32]
    assert rung_sizes(25, 32, 1) == [32] and rung_sizes(6, 4, 3) == [2, 4] and rung_sizes(27, 4, 3) == [2, 2, 4]
    assert rung_sizes(16, 32, 2) == [4, 8, 16, 32]


def test_auto_rejects_a_bad_candidate_before_any_work(tmp_path):
    with pytest.raises(UserError, match="auto.candidates.bad: prior.variance must be one of"):
        run(make_cfg(["experiment=auto", "mixing.steps=null", "+auto.candidates.bad=['prior.variance=nope']"], tmp_path))


def test_finetuning_steps_the_optimizer_and_lowers_the_loss():
    """The paper's script computes the loss and never steps the optimizer: ours must change the weights."""
    from unseen.baselines.finetune import finetune
    from unseen.models.loading import load_model
    from unseen.worlds.tiny.domains import sample

    model = load_model("builtin:tiny_ddpm")
    before = [p.detach().clone() for p in model.unet.parameters()]
    losses = finetune(model.unet, model.alphas_cumprod, sample("squares", 8, seed=0), steps=30, batch_size=8, lr=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.unet.parameters()))
    assert sum(losses[-10:]) < sum(losses[:10])
