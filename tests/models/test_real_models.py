"""The paper's base models by name: configs that compose, checkpoints converted on first use, and (slow) the
real 256 px architectures end to end on a CPU with random weights."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests import reference_nets as ref
from tests.helpers import CONF, make_cfg, run
from unseen.errors import UserError
from unseen.job.checks import validate

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"  # copies of ../shared/fixtures, so a clone runs them
FILE_MODELS = ["dog_ddpm", "celebahq_ckpt", "church_ckpt", "bedroom_ckpt"]
HUB_MODELS = ["celebahq_ddpm", "church_ddpm", "bedroom_ddpm", "cifar10_ddpm"]
LATENT_HUB_MODELS = ["sd15", "sd21", "dit256", "ldm_celebahq"]


def test_every_model_config_is_one_of_the_known_ones():
    assert sorted(p.stem for p in (CONF / "model").glob("*.yaml")) == \
        sorted(FILE_MODELS + HUB_MODELS + LATENT_HUB_MODELS + ["tiny_ddpm", "tiny_ldm", "emoji_ddpm"])


@pytest.mark.parametrize("name", FILE_MODELS)
def test_a_file_model_without_its_checkpoint_names_the_key_and_where_it_is_published(name):
    cfg = make_cfg([f"model={name}"], output_dir="/tmp/x")
    with pytest.raises(UserError, match=r"model.checkpoint=/path/to/it \(.*published by"):
        validate(cfg)


def test_a_missing_checkpoint_file_is_one_line(tmp_path):
    cfg = make_cfg(["model=dog_ddpm", f"model.checkpoint={tmp_path}/afhq_p2.pt"], output_dir=str(tmp_path / "o"))
    with pytest.raises(UserError, match="afhq_p2.pt does not exist.*P2-weighting"):
        validate(cfg)


def test_a_raw_checkpoint_is_converted_once_into_the_cache_and_runs(tmp_path):
    """The ADM fixture (32 px, learned sigma) as model.checkpoint: converted on the first run, loaded from the
    cache on the second, and the method runs on it (eps = its first 3 of 6 output channels)."""
    cache = tmp_path / "cache"
    args = ["model=dog_ddpm", f"model.checkpoint={FIXTURES / 'adm' / 'model.safetensors'}", "model.image_size=32",
            "model.num_head_channels=16", "sampler.count=4", "mixing.reconstruct=2", "eval=unet"]
    first = run(make_cfg(args, tmp_path / "a", cache_dir=cache))
    (folder,) = (cache / "models").iterdir()
    assert json.loads((folder / "conversion.json").read_text())["layout"]["learn_sigma"] is True
    stamp = (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns
    second = run(make_cfg(args, tmp_path / "b", cache_dir=cache))
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").stat().st_mtime_ns == stamp  # not converted again
    assert first["model_identity"] == second["model_identity"] and second["unet_evaluations"]["invert"] == 0
    assert first["fid_kid"]["feature"] == "unet" and np.isfinite(first["fid_kid"]["fid"])
    assert first["reconstruction_psnr"]["count"] == 2


# --- slow: the real architectures at 256 px with random weights ------------------------------------------------

PAPER_ADM = dict(ch=128, mult=(1, 1, 2, 2, 4, 4), n=1, attn_levels=(4,), head_ch=64)  # attention at 16 px of 256
PAPER_DDPM = dict(ch=128, mult=(1, 1, 2, 2, 4, 4), n=2, attn_resolutions=(16,), resolution=256)


def _checkpoint(kind: str, path: Path) -> Path:
    net = ref.ADM(**PAPER_ADM) if kind == "adm" else ref.DDPM(**PAPER_DDPM)
    torch.save(ref.randomise(net).state_dict(), path)
    return path


def _faces(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    g = np.random.default_rng(0)
    for i in range(n):  # odd sizes: resized and centre-cropped to 256
        Image.fromarray(g.integers(0, 255, (300, 280, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.slow
def test_dog_ddpm_end_to_end_on_the_command_line(tmp_path):
    ckpt = _checkpoint("adm", tmp_path / "afhq_p2.pt")
    faces = _faces(tmp_path / "ffhq", 6)
    args = ["model=dog_ddpm", f"model.checkpoint={ckpt}", "target=ffhq", f"target.path={faces}", "eval=unet",
            "target.num_references=2", "target.num_eval=4", "sampler.count=2", "mixing.t_M=20", "mixing.reconstruct=0",
            "prior=scalar", "logger=none", "progress=false", f"cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/run"]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, cwd=tmp_path,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["unet_evaluations"] == {"invert": 4, "generate": 6}
    assert metrics["fid_kid"]["feature"] == "unet" and metrics["fid_kid"]["num_real"] == 4
    assert Image.open(tmp_path / "run" / "samples" / "00001.png").size == (256, 256)


@pytest.mark.slow
@pytest.mark.parametrize("name", FILE_MODELS + HUB_MODELS)
def test_every_real_model_config_instantiates_and_runs_one_unet_step(name, tmp_path):
    """File models: a random-weight checkpoint of the real architecture, converted as a user's would be. Hub
    models (offline here): the same architecture as a diffusers folder in place of the hub id."""
    from unseen.method import ddim
    from unseen.models.convert import convert
    from unseen.models.loading import checkpoint_folder, load_model

    cfg = make_cfg([f"model={name}"], output_dir=str(tmp_path / "o"), small=False)
    mc = cfg.model
    if name in FILE_MODELS:
        ckpt = _checkpoint(mc.checkpoint_kind, tmp_path / "model.ckpt")
        source = str(checkpoint_folder(str(ckpt), mc.checkpoint_kind, mc.image_size, mc.num_head_channels, tmp_path))
    else:  # the hub models are the original DDPM architecture (cifar10: 32 px, ch_mult 1,2,2,2, attention at 16)
        small = name == "cifar10_ddpm"
        net = ref.DDPM(ch=128, mult=(1, 2, 2, 2), n=2, attn_resolutions=(16,), resolution=32) if small else \
            ref.DDPM(**PAPER_DDPM)
        torch.save(ref.randomise(net).state_dict(), tmp_path / "hub.ckpt")
        source = str(convert("ddpm", tmp_path / "hub.ckpt", tmp_path / "hub", image_size=32 if small else 256))
    model = load_model(source, mc.subfolder, mc.scheduler_subfolder, None, "cpu", mc.precision)
    predictor = ddim.NoisePredictor(model.unet, model.alphas_cumprod, mc.batch_size)
    x = torch.randn(1, 3, model.resolution, model.resolution, dtype=torch.float64)
    eps = predictor(x, 500)
    assert eps.shape == x.shape and torch.isfinite(eps).all()
