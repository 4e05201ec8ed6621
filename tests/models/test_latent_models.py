"""Latent and conditional models (Stable Diffusion, DiT, LDM) through diffusers, pinned to diffusers' own
pipelines on tiny random components built offline (tests/tiny_pipelines.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests import tiny_pipelines as tp
from unseen.errors import UserError
from unseen.method import ddim
from unseen.models.loading import load_model

pytest.importorskip("transformers")

GRID = list(range(0, 1000, 100))  # diffusers' DDIM timesteps for 10 steps ("leading", no offset)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {"sd": tp.stable_diffusion(root / "sd"), "dit": tp.dit(root / "dit"), "ldm": tp.ldm(root / "ldm")}


def predictor(model, guidance: float = 1.0):
    return ddim.NoisePredictor(model.unet, model.alphas_cumprod, 8, prediction_type=model.prediction_type,
                               conditioning=model.conditioning, guidance=guidance)


def latents(n: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn((n, 4, tp.LATENT, tp.LATENT), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("prompt,guidance", [("", 1.0), ("a red disk", 1.0), ("a red disk", 3.0)])
def test_stable_diffusion_generation_matches_diffusers_pipeline(folders, prompt, guidance):
    """The method's generation from a given latent is StableDiffusionPipeline's with DDIMScheduler, latents= given:
    the latents after the last step, and the decoded images."""
    from diffusers import StableDiffusionPipeline

    model = load_model(str(folders["sd"]), prompt=prompt)
    z = latents()
    ours = ddim.generate(predictor(model, guidance), z, GRID)
    pipe = StableDiffusionPipeline.from_pretrained(folders["sd"], safety_checker=None)
    pipe.scheduler = tp.scheduler()  # the pipeline moves steps_offset to 1 (t = 901, 801, ...): the same grid back
    kwargs = dict(prompt=[prompt] * 2, latents=z, num_inference_steps=10, guidance_scale=guidance)
    theirs = pipe(**kwargs, output_type="latent").images
    assert (ours - theirs).abs().max() < 2e-4 * theirs.abs().max()
    images = pipe(**kwargs, output_type="pt").images
    assert (((model.space.decode(ours) + 1) / 2).clamp(0, 1) - images).abs().max() < 1e-3


def test_the_prompt_and_the_guidance_change_the_samples(folders):
    z = latents()
    plain = ddim.generate(predictor(load_model(str(folders["sd"]))), z, GRID)
    prompted = load_model(str(folders["sd"]), prompt="a red disk")
    assert (ddim.generate(predictor(prompted), z, GRID) - plain).abs().max() > 1e-3
    assert (ddim.generate(predictor(prompted, 3.0), z, GRID) - ddim.generate(predictor(prompted), z, GRID)
            ).abs().max() > 1e-3


def test_dit_generation_matches_diffusers_pipeline(folders):
    """DiTPipeline at guidance 1 with a class label: its seeded starting latents, our steps, its decoded images."""
    from diffusers import DiTPipeline

    model = load_model(str(folders["dit"]), class_label=3)
    pipe = DiTPipeline.from_pretrained(folders["dit"])
    theirs = pipe(class_labels=[3, 3], guidance_scale=1.0, num_inference_steps=10,
                  generator=torch.Generator().manual_seed(0), output_type="np").images
    ours = model.space.decode(ddim.generate(predictor(model), latents(), GRID))
    ours = ((ours + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert np.abs(ours - theirs).max() < 1e-3


def test_ldm_generation_matches_diffusers_pipeline(folders):
    """LDMPipeline (UNet2DModel over a VQModel's latents, as CompVis/ldm-celebahq-256): the same images."""
    from diffusers import LDMPipeline

    model = load_model(str(folders["ldm"]))
    theirs = LDMPipeline.from_pretrained(folders["ldm"])(batch_size=2, generator=torch.Generator().manual_seed(0),
                                                         num_inference_steps=10, output_type="np").images
    ours = model.space.decode(ddim.generate(predictor(model), latents(), GRID))
    assert np.abs(((ours + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy() - theirs).max() < 1e-3


def test_inversion_steps_match_ddim_inverse_scheduler(folders):
    """Each step of the method's inversion (eps at the current point, as the paper's code) is
    DDIMInverseScheduler's step given that eps."""
    from diffusers import DDIMInverseScheduler

    model = load_model(str(folders["sd"]), prompt="a red disk")
    pred = predictor(model)
    inv = DDIMInverseScheduler.from_pretrained(folders["sd"], subfolder="scheduler")
    inv.set_timesteps(10)
    x0 = model.space.encode(torch.rand(2, 3, 32, 32) * 2 - 1)
    walk = [x0]
    ddim.invert_to(pred, x0, GRID, on_step=lambda t, x: walk.append(x))
    for (a, b), xa, xb in zip(zip(GRID[:-1], GRID[1:]), walk[:-1], walk[1:]):
        theirs = inv.step(pred(xa, a).float(), b, xa).prev_sample
        assert (theirs - xb).abs().max() < 1e-4 * xb.abs().max()


def test_latent_round_trip_reconstructs_through_the_autoencoder(folders):
    """encode -> invert -> denoise -> decode returns the images as well as the autoencoder alone does (a random
    autoencoder is a poor one: the floor is low, and the DDIM round trip must not lose more than 1 dB on it)."""
    from unseen.images import psnr
    from unseen.models.autoencoder import round_trip_psnr

    model = load_model(str(folders["ldm"]))
    pred = predictor(model)
    images = model.space.decode(latents(4, 1)).clamp(-1, 1)  # images the autoencoder can represent
    x0 = model.space.encode(images)
    grid = list(range(0, 201, 20))
    recon = model.space.decode(ddim.generate(pred, ddim.invert_to(pred, x0, grid), grid))
    floor = round_trip_psnr(model.space, images)["mean"]
    assert float(psnr(recon, images).mean()) > floor - 1.0
    assert model.space.encoder_evaluations == 4 + 4 and model.space.decoder_evaluations == 4 + 4 + 4  # images


def test_condition_options_are_checked(folders):
    with pytest.raises(UserError, match="model.class_label is for class-conditional"):
        load_model(str(folders["sd"]), class_label=3)
    with pytest.raises(UserError, match="model.prompt is for text-conditioned"):
        load_model(str(folders["dit"]), prompt="a cat")
    with pytest.raises(UserError, match=r"model.class_label must be in \[0, 9\]"):
        load_model(str(folders["dit"]), class_label=11)
    from unseen.job.api import wire

    wire()  # the built-in models
    with pytest.raises(UserError, match="builtin:tiny_ddpm is unconditional: drop model.prompt"):
        load_model("builtin:tiny_ddpm", prompt="a cat")
    assert load_model(str(folders["dit"])).conditioning.description == {"class_label": 10, "null_class": 10}


def test_the_identity_pins_autoencoder_condition_and_prediction(folders, tmp_path):
    """The inversion cache is keyed by the model identity: another prompt or autoencoder must change it."""
    import shutil

    base = load_model(str(folders["sd"])).identity
    assert load_model(str(folders["sd"]), prompt="a cat").identity != base
    other = shutil.copytree(folders["sd"], tmp_path / "sd2")
    from diffusers import AutoencoderKL

    tp.vae(seed=5).save_pretrained(other / "vae")
    assert isinstance(AutoencoderKL.from_pretrained(other / "vae"), AutoencoderKL)
    assert load_model(str(other)).identity != base


@pytest.mark.parametrize("name,extra", [("sd", ["model.prompt=a disk", "sampler.guidance=2"]),
                                        ("dit", ["model.class_label=3"]), ("ldm", [])])
def test_a_latent_pipeline_runs_end_to_end(folders, name, extra, tmp_path):
    """``model.pretrained=DIR`` for each kind: a whole job in latent space, scored in pixels, costs counted."""
    import unseen

    r = unseen.run(f"model.pretrained={folders[name]}", "logger=none", "target.num_references=8", "target.num_eval=16",
                   "sampler.count=8", "mixing.t_M=200", "mixing.stride=20", "mixing.reconstruct=4",
                   f"cache_dir={tmp_path / 'cache'}", *extra, output_dir=tmp_path / "run")
    m = r.metrics
    assert m["model_kind"] == {"sd": "text", "dit": "class", "ldm": "latent"}[name]
    assert m["samples"]["count"] == 8 and len(list((r.dir / "samples").glob("*.png"))) == 8
    ae = m["autoencoder_evaluations"]
    assert ae["decoder"] >= 8 + 4 and ae["encoder"] >= 8
    rt = m["reconstruction_psnr"]["autoencoder_round_trip"]
    assert rt["count"] == 4 and np.isfinite(rt["mean"])
    gen = m["unet_evaluations"]["generate"]
    assert gen == 8 * 11 * (2 if name == "sd" else 1)  # 10 steps and the last to t = -1; guidance 2: cond + null
    assert json.loads((r.dir / "metrics.json").read_text())["model_kind"] == m["model_kind"]


@pytest.mark.parametrize("name", ["sd15", "sd21", "dit256", "ldm_celebahq"])
def test_the_real_latent_configs_compose_and_fail_fast_offline(name, tmp_path, capsys, monkeypatch):
    import time

    from tests.helpers import assert_one_line_error, cli_here, no_results

    start = time.perf_counter()
    proc = cli_here(f"model={name}", "logger=none", f"hydra.run.dir={tmp_path}/run", capsys=capsys,
                    monkeypatch=monkeypatch, env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert_one_line_error(proc, "is not in the Hugging Face cache and the hub is unreachable")
    assert time.perf_counter() - start < 30 and no_results(tmp_path / "run")


def test_a_hub_pipeline_in_the_cache_loads_offline(folders, tmp_path, monkeypatch):
    """A hub id whose snapshot is in the Hugging Face cache (its model_index.json names the parts) loads with no
    network, as a user's pre-downloaded facebook/DiT-XL-2-256 would."""
    import shutil

    repo = tmp_path / "hf" / "hub" / "models--facebook--DiT-XL-2-256"
    shutil.copytree(folders["dit"], repo / "snapshots" / ("0123abcd" * 5))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd" * 5)
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))  # read at import
    model = load_model("facebook/DiT-XL-2-256", class_label=2)
    assert model.kind == "class" and model.resolution == 32
    assert model.identity != load_model(str(folders["dit"]), class_label=2).identity  # the source is part of it


def test_the_tiny_ldm_training_script_makes_a_pipeline_the_loader_reads(tmp_path):
    """python -m unseen.worlds.tiny.train_ldm on a few steps: an autoencoder, its scaling factor and round trips, a latent
    UNet, and a pipeline folder that load_model reads as a latent model of 32 px images."""
    from unseen.worlds.tiny import train_ldm

    args = ["--out", str(tmp_path / "run"), "--vae-steps", "2", "--steps", "2", "--batch", "4", "--warmup", "1",
            "--log-every", "1", "--ckpt-every", "1", "--vae-width", "16", "--unet-width", "16", "--latent-channels", "4"]
    train_ldm.main(args)
    folder = tmp_path / "run" / "pipeline"
    stats = json.loads((folder / "train_stats.json").read_text())
    assert stats["vae"]["steps"] == 2 and set(stats["vae"]["round_trip_psnr_db"]) >= {"disks", "smileys"}
    assert stats["unet"]["step"] == 2
    model = load_model(str(folder))
    assert model.kind == "latent" and model.resolution == 32 and model.space.factor == 2
    assert model.space.scaling_factor == pytest.approx(stats["vae"]["scaling_factor"])


def test_tiny_ldm_runs_the_default_job_in_latent_space(tmp_path):
    """The shipped latent model on the default target (smileys, never seen by it): the DDIM round trip in its latent
    space loses almost nothing beyond the autoencoder's own (measured: 21.56 dB against 21.61 dB), and the
    samples are smileys to the tiny world's classifier."""
    import unseen

    r = unseen.run("model=tiny_ldm", "logger=none", "progress=false", "target.num_references=16",
                   "target.num_eval=32", "sampler.count=16", "mixing.reconstruct=8", f"cache_dir={tmp_path / 'c'}",
                   output_dir=tmp_path / "run")
    m = r.metrics
    rec = m["reconstruction_psnr"]
    assert m["model_kind"] == "latent" and rec["mean"] > rec["autoencoder_round_trip"]["mean"] - 0.5
    assert m["domain_rates"]["target_rate"] >= 0.75
    assert m["autoencoder_evaluations"]["decoder"] == 16 + 8 + 8  # samples, reconstructions, the floor's round trip


# --- checked from the model's files before Hydra makes a folder ------------------------------------------------


def precheck_error(*overrides, tmp_path):
    """The checks the CLI runs before Hydra makes a folder (unseen.job.checks.preflight, after composing)."""
    from unseen.job.api import compose
    from unseen.job.checks import preflight

    with pytest.raises(UserError) as info:
        preflight(compose("logger=none", "sampler.count=4", *overrides, output_dir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()
    return str(info.value)


@pytest.mark.parametrize("overrides, match", [
    (["model.prompt=a_cat"], "model=tiny_ddpm is unconditional: drop model.prompt"),
    (["model.class_label=3"], "model=tiny_ddpm is unconditional: drop model.class_label"),
    (["sampler.guidance=3"], "model=tiny_ddpm is unconditional: drop sampler.guidance"),
    (["model.pretrained=SD", "model.class_label=3"], "is text-conditioned: drop model.class_label"),
    (["model.pretrained=DIT", "model.class_label=-1"], r"model.class_label must be in [0, 9]"),
    (["model.pretrained=DIT", "model.class_label=1000000"], r"model.class_label must be in [0, 9]"),
])
def test_a_condition_the_model_does_not_take_is_refused_before_any_folder(folders, tmp_path, overrides, match):
    overrides = [o.replace("SD", str(folders["sd"])).replace("DIT", str(folders["dit"])) for o in overrides]
    assert match in precheck_error(*overrides, tmp_path=tmp_path)


def broken_folder(tmp_path, case, folders):
    import shutil

    pixel = tmp_path / "pixel"
    from unseen.job.api import wire
    from unseen.registry import builtin_model

    wire()
    shutil.copytree(builtin_model("tiny_ddpm"), pixel)
    if case == "missing":
        return tmp_path / "nowhere"
    if case == "a file":
        (tmp_path / "model.pt").write_bytes(b"x")
        return tmp_path / "model.pt"
    if case == "broken unet config":
        (pixel / "unet" / "config.json").write_text('{"sample_size": 32,')
    if case == "broken model_index":
        sd = shutil.copytree(folders["sd"], tmp_path / "sd")
        (sd / "model_index.json").write_text("{not json")
        return sd
    if case == "a UNet alone":
        return pixel / "unet"
    if case == "no scheduler":
        shutil.rmtree(pixel / "scheduler")
    if case == "unknown pipeline":
        (pixel / "model_index.json").write_text('{"_class_name": "FooPipeline", "prior": ["x", "Y"]}')
    return pixel


@pytest.mark.parametrize("case, match", [
    ("missing", "neither an existing folder nor a hub id"),
    ("empty", "model.pretrained is empty"),
    ("a file", "is a file: a diffusers model is a folder"),
    ("broken unet config", "config.json is not valid JSON"),
    ("broken model_index", "model_index.json is not valid JSON"),
    ("a UNet alone", "a UNet alone"),
    ("no scheduler", "has no scheduler/scheduler_config.json"),
    ("unknown pipeline", "names a FooPipeline (parts: prior)"),
])
def test_a_model_folder_that_cannot_load_is_refused_before_any_folder(folders, tmp_path, case, match):
    source = "''" if case == "empty" else str(broken_folder(tmp_path, case, folders))
    assert match in precheck_error(f"model.pretrained={source}", tmp_path=tmp_path)


def test_an_offline_hub_model_is_refused_before_any_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert "not in the Hugging Face cache and the hub is unreachable" in precheck_error("model=sd15", tmp_path=tmp_path)


def test_a_prompt_longer_than_the_text_encoder_reads_is_said(folders, caplog):
    load_model(str(folders["sd"]), prompt="a" * 40)  # 16 tokens with start and end: the rest is dropped
    assert any("the rest of the prompt is dropped" in r.message for r in caplog.records)
