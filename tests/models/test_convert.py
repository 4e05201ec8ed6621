"""``python -m unseen.models.convert``: the paper's raw checkpoints as diffusers folders, checked against outputs the
ORIGINAL implementations computed (../shared/fixtures) and, for other layouts, against re-statements of the
originals (tests/reference_nets.py) that are themselves checked against those fixtures first."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests import reference_nets as ref
from unseen.errors import UserError
from unseen.models.convert import convert, convert_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # copies of ../shared/fixtures, so a clone runs them
ROOT = Path(__file__).resolve().parents[2]


def fixture(kind):
    return load_file(FIXTURES / kind / "model.safetensors"), load_file(FIXTURES / kind / "io.safetensors")


@pytest.mark.parametrize("kind,args", [("adm", ["--image-size", "32", "--num-head-channels", "16"]),
                                       ("ddpm", ["--image-size", "32"])])
def test_the_command_line_reproduces_the_original_output(kind, args, tmp_path):
    from diffusers import DDPMScheduler, UNet2DModel

    out = tmp_path / "converted"
    proc = subprocess.run([sys.executable, "-m", "unseen.models.convert", kind, str(FIXTURES / kind / "model.safetensors"),
                           "--out", str(out), *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    unet = UNet2DModel.from_pretrained(out / "unet").eval()
    _, io = fixture(kind)
    with torch.no_grad():
        got = unet(io["x"], io["t"]).sample
    assert got.shape == io["expected"].shape  # every output channel kept: 6 for ADM's learned sigma
    assert (got - io["expected"]).abs().max() < 1e-4
    scheduler = DDPMScheduler.from_pretrained(out / "scheduler")
    assert scheduler.config.num_train_timesteps == 1000 and scheduler.config.beta_schedule == "linear"
    assert scheduler.config.prediction_type == "epsilon"
    assert list((out / "unet").glob("*.safetensors"))
    meta = json.loads((out / "conversion.json").read_text())
    assert meta["kind"] == kind and len(meta["source_sha256"]) == 64


@pytest.mark.parametrize("kind", ["adm", "ddpm"])
def test_the_reference_nets_agree_with_the_original_code(kind):
    state, io = fixture(kind)
    net = ref.ADM(ch=32, mult=(1, 1, 2, 2), n=1, attn_levels=(1,), head_ch=16) if kind == "adm" else \
        ref.DDPM(ch=32, mult=(1, 2, 2, 2), n=2, attn_resolutions=(16,), resolution=32)
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert (net.eval()(io["x"], io["t"]) - io["expected"]).abs().max() < 1e-4


ADM_LAYOUTS = {
    "two res blocks, attention at two levels, 4 heads": dict(ch=32, mult=(1, 2, 3), n=2, attn_levels=(1, 2), head_ch=16),
    "plain conv resampling, no scale-shift, 3 output channels": dict(ch=32, out_ch=3, mult=(1, 2), n=1,
                                                                     attn_levels=(0,), head_ch=32, updown=False,
                                                                     scale_shift=False),
    "the paper's level structure at small width": dict(ch=32, mult=(1, 1, 2, 2, 4, 4), n=1, attn_levels=(4,),
                                                       head_ch=32),
}
DDPM_LAYOUTS = {
    "one res block, attention at two levels": dict(ch=32, mult=(1, 2, 4), n=1, attn_resolutions=(16, 8), resolution=32),
    "three levels, no attention but the middle": dict(ch=32, mult=(1, 1, 2), n=2, attn_resolutions=(), resolution=16),
}


@pytest.mark.parametrize("name", list(ADM_LAYOUTS))
def test_other_adm_layouts(name):
    kwargs = ADM_LAYOUTS[name]
    net = ref.randomise(ref.ADM(**kwargs), seed=len(name))
    size = 2 ** (len(kwargs["mult"]) + 1)
    unet, _, layout = convert_state("adm", net.state_dict(), size, kwargs["head_ch"])
    assert layout["res_blocks"] == kwargs["n"] and layout["resblock_updown"] == kwargs.get("updown", True)
    assert [i for i, a in enumerate(layout["attention"]) if a] == list(kwargs["attn_levels"])
    x, t = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1)), torch.tensor([3, 905])
    with torch.no_grad():
        assert (unet(x, t).sample - net(x, t)).abs().max() < 1e-4


@pytest.mark.parametrize("name", list(DDPM_LAYOUTS))
def test_other_ddpm_layouts(name):
    kwargs = DDPM_LAYOUTS[name]
    net = ref.randomise(ref.DDPM(**kwargs), seed=len(name))
    size = kwargs["resolution"]
    unet, _, layout = convert_state("ddpm", net.state_dict(), size)
    assert layout["res_blocks"] == kwargs["n"]
    x, t = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1)), torch.tensor([3, 905])
    with torch.no_grad():
        assert (unet(x, t).sample - net(x, t)).abs().max() < 1e-4


def test_every_source_key_is_used_and_foreign_keys_fail(tmp_path):
    state = ref.randomise(ref.DDPM(ch=32, mult=(1, 2), n=1, attn_resolutions=(), resolution=16)).state_dict()
    state["extra.weight"] = torch.zeros(3)
    with pytest.raises(UserError, match=r"1 keys unused \['extra.weight'\]"):
        convert_state("ddpm", state, 16)
    state.pop("extra.weight")
    state.pop("up.1.upsample.conv.bias")
    with pytest.raises(UserError, match="up.1.upsample.conv.bias"):
        convert_state("ddpm", state, 16)


def test_a_layout_diffusers_cannot_express_is_refused_clearly():
    state = ref.randomise(ref.DDPM(ch=32, mult=(2, 1), n=1, attn_resolutions=(), resolution=16)).state_dict()
    with pytest.raises(UserError, match="first level has 64 channels but the stem 32"):
        convert_state("ddpm", state, 16)


def test_the_wrong_kind_is_named(tmp_path):
    state = ref.randomise(ref.DDPM(ch=32, mult=(1, 2), n=1, attn_resolutions=(), resolution=16)).state_dict()
    with pytest.raises(UserError, match="looks like ddpm.*not adm"):
        convert_state("adm", state)


def test_a_non_empty_out_is_refused_unless_forced_and_pt_files_load(tmp_path):
    net = ref.randomise(ref.DDPM(ch=32, mult=(1, 2), n=1, attn_resolutions=(), resolution=16))
    torch.save(net.state_dict(), tmp_path / "model.ckpt")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("a user's file")
    proc = subprocess.run([sys.executable, "-m", "unseen.models.convert", "ddpm", str(tmp_path / "model.ckpt"), "--out",
                           str(out), "--image-size", "16"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--force" in proc.stderr and (out / "mine.txt").exists()
    convert("ddpm", tmp_path / "model.ckpt", out, image_size=16, force=True)
    assert (out / "unet" / "config.json").is_file() and not (out / "mine.txt").exists()


def test_a_missing_or_unreadable_checkpoint(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        convert("adm", tmp_path / "nope.pt", tmp_path / "out")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        convert("adm", tmp_path / "bad.pt", tmp_path / "out")
    save_file({"a": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(UserError, match="neither an ADM nor an original DDPM"):
        convert("adm", tmp_path / "other.safetensors", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind,size,heads", [("adm", 0, 16), ("adm", -64, 16), ("adm", 33, 16), ("ddpm", 33, 64),
                                             ("adm", 32, 0)])
def test_a_bad_size_or_head_count_is_refused_before_writing(kind, size, heads, tmp_path):
    src = FIXTURES / kind / "model.safetensors"
    with pytest.raises(UserError, match="--image-size|--num-head-channels"):
        convert(kind, src, tmp_path / "out", image_size=size, num_head_channels=heads)
    assert not (tmp_path / "out").exists()
    if (kind, size) != ("adm", 33):  # the command line's path once: the same function behind it
        return
    proc = subprocess.run([sys.executable, "-m", "unseen.models.convert", kind, str(src), "--out", str(tmp_path / "o2"),
                           "--image-size", str(size), "--num-head-channels", str(heads)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("force", [False, True])
def test_an_out_that_is_a_file_is_refused_and_kept(force, tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(UserError, match="is a file"):
        convert("ddpm", FIXTURES / "ddpm" / "model.safetensors", tmp_path / "out", image_size=32, force=force)
    assert (tmp_path / "out").is_file()
