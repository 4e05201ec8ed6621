"""Bad input ends in one line, exit 2, before any work and before any folder exists; runs never share or mix a
result folder; nothing a run wrote is read back as input; a full disk, a broken cache point or Ctrl-C is one line.
(Each case was found by probing the command line and failed on the code before its fix.)"""

import errno
import json
import math
import os
import socket
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers import CLI_SMALL as SMALL
from tests.helpers import assert_one_line_error, cli_here, make_cfg, random_images, run
from unseen.errors import UserError


def _file(tmp_path: Path, name: str, content: bytes = b"") -> Path:
    (tmp_path / name).write_bytes(content)
    return tmp_path / name


FOLDER = ["target=folder", "target.num_references=4", "target.num_eval=4", "eval=none"]
CASES = {  # overrides (DIR: a folder of 8 good images; FILE: an empty file) -> what the one line says
    "eta above 1": (["sampler.eta=5"], "sampler.eta must be a finite number in [0, 1]"),
    "eta nan": (["sampler.eta=nan"], "sampler.eta must be a finite number"),
    "clean-up off the grid": (["sampler.cleanup_t=55"], "sampler.cleanup_t = 55 must be a point of the generation grid"),
    "clean-up at t_M": (["sampler.cleanup_t=300"], "sampler.cleanup_t = 300 must be a point"),
    "negative eta_from": (["sampler.eta_from=-1"], "sampler.eta_from must be >= 0"),
    "match_noise without a mixture": (["sampler.match_noise=true", "prior=scalar"],
                                      "sampler.match_noise starts a mixture's draws"),
    "a collage of more references than K": (["sampler=collage", "sampler.collage_parts=5", "target.num_references=4"],
                                            "sampler.collage_parts = 5 joins that many references"),
    "negative num_eval": (["target.num_eval=-2"], "target.num_eval must be >= 0 (or null"),
    "unknown emoji category": (["target=emoji", "target.category=cats", "eval=none"],
                               "target.category must be one of faces, flags, people, hearts"),
    "lpips required, no weights": (["eval.lpips=true", "eval.lpips_weights=MISSING"],
                                   "LPIPS needs torchvision's AlexNet"),
    "pr_k zero": (["eval.pr_k=0"], "eval.pr_k must be >= 1"),
    "bandwidth nan": (["prior.bandwidth=nan"], "prior.bandwidth must be a finite number"),
    "bandwidth inf": (["prior.bandwidth=inf"], "prior.bandwidth must be a finite number"),
    "geometry bandwidth inf": (["geometry.bandwidth=inf"], "geometry.bandwidth must be a finite number"),
    "a negative target seed": (["target.seed=-1"], "target.seed must be in [0, 2**32)"),
    "a seed past 64 bits": (["seed=18446744073709551616"], "seed must be in [0, 2**63)"),
    "auto at T": (["experiment=auto", "auto.t_M=[1000]"], "mixing.t_M must be in [1, T-1 = 999]"),
    "zero heads": (["model=dog_ddpm", "model.checkpoint=FILE", "model.num_head_channels=0"],
                   "model.num_head_channels >= 1"),
    "an unknown device": (["device=foo"], "device=foo is not a device"),
    "mps": (["device=mps"], "unseen runs on cpu or cuda"),
    "cuda without a GPU": (["device=cuda"], "CUDA is not available"),
    "fp8": (["model.precision=fp8"], "model.precision must be one of fp32, bf16, fp16"),
    "t_M past the schedule": (["mixing.t_M=1000"], "mixing.t_M must be in [1, T-1 = 999]"),
    "inception weights that are text": (["eval=inception", "eval.inception_weights=FILE"],
                                        "is not torch-fidelity's InceptionV3 weights file"),
    "a bogus logger mode": (["logger.mode=bogus"], "logger.mode offline, online or disabled"),
    "a typo added with +": (["+model.foo=1"], "unknown config key(s) model.foo"),
    "an empty target folder": ([*FOLDER, "target.path=EMPTY"], "holds no images"),
    "too few images": ([*FOLDER, "target.path=DIR", "target.num_eval=40", "eval=domain"],
                       "holds only 8 images"),
    "a missing target folder": ([*FOLDER, "target.path=MISSING"], "does not exist"),
    "an unset target.path": (FOLDER, "target.path is not set"),
    "eval_path with a built-in target": (["target.eval_path=DIR"], "target.eval_path is for folder targets"),
    "a 1x1 image": ([*FOLDER, "target.path=TINY", "eval=domain"], "too small"),
    "a corrupt held-out image": ([*FOLDER, "target.path=CORRUPT", "target.num_references=2",
                                 "target.num_eval=6", "eval=domain"], "cannot read image"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_before_any_folder(case, tmp_path, capsys, monkeypatch):
    overrides, match = CASES[case]
    places = {"FILE": _file(tmp_path, "a_file"), "DIR": random_images(tmp_path / "dir", 8),
              "EMPTY": tmp_path / "empty", "MISSING": tmp_path / "missing",
              "TINY": random_images(tmp_path / "tiny", 7), "CORRUPT": random_images(tmp_path / "corrupt", 8)}
    (tmp_path / "empty").mkdir()
    Image.new("RGB", (1, 1)).save(tmp_path / "tiny" / "one.png")
    (tmp_path / "corrupt" / "img005.png").write_bytes(b"not a png")  # every file is read: one is broken
    overrides = [o.rsplit("=", 1)[0] + "=" + str(places[o.rsplit("=", 1)[1]]) if o.rsplit("=", 1)[-1] in places
                 else o for o in overrides]
    proc = cli_here(*SMALL, *overrides, f"hydra.run.dir={tmp_path}/run", capsys=capsys, monkeypatch=monkeypatch,
                    env={"TORCH_HOME": str(tmp_path / "torch")})
    assert_one_line_error(proc, match)
    assert not (tmp_path / "run").exists()  # no orphan folder of .hydra/ + unseen.log


def test_a_decompression_bomb_is_one_line(tmp_path, capsys, monkeypatch):
    folder = random_images(tmp_path / "big", 8, size=64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is past twice this: PIL refuses it
    proc = cli_here(*SMALL, *FOLDER, f"target.path={folder}", f"hydra.run.dir={tmp_path}/run", capsys=capsys,
                    monkeypatch=monkeypatch)
    assert_one_line_error(proc, "too large to open safely")


def test_cfg_job_with_a_bad_key_is_one_line(tmp_path, capsys, monkeypatch):
    proc = cli_here("--cfg", "job", "nokey=1", capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, "unknown config key 'nokey'")


# --- result folders --------------------------------------------------------------------------------------------


def test_default_folders_differ_within_one_second():
    from unseen.job.api import compose, default_run_dir
    from unseen.job.config import compose as hydra_compose

    assert len({default_run_dir() for _ in range(50)}) == 50
    dirs = {hydra_compose([], hydra_part=True).hydra.run.dir for _ in range(3)}
    assert len(dirs) == 3 and all(len(Path(d).name) == len("12-00-00-000000") for d in dirs)
    assert compose().output_dir != compose().output_dir


def test_a_live_runs_folder_is_refused(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    (out / ".partial").mkdir(parents=True)
    (out / ".partial" / "owner").write_text(f"{socket.gethostname()} {os.getppid()}\n")  # a live process
    proc = cli_here(*SMALL, f"hydra.run.dir={out}", capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, "is in use by a live run")
    assert sorted(p.name for p in out.iterdir()) == [".partial"]  # Hydra wrote nothing there
    with pytest.raises(UserError, match="in use by a live run"):  # the API refuses it too
        run(make_cfg([], out))


def test_a_rerun_into_a_folder_leaves_nothing_of_the_earlier_run(tmp_path):
    out = tmp_path / "run"
    run(make_cfg([], out))
    assert (out / "reconstruction.png").is_file() and len(list((out / "samples").iterdir())) == 8
    (out / "mine.txt").write_text("a user's note")
    run(make_cfg(["mixing.reconstruct=0", "sampler.count=4", "sampler.batch_size=4"], out))
    assert not (out / "reconstruction.png").exists()
    assert len(list((out / "samples").iterdir())) == 4
    assert (out / "mine.txt").read_text() == "a user's note"  # nothing of the user's is touched


def test_a_full_disk_while_writing_is_one_error_and_no_staging(tmp_path, monkeypatch):
    from unseen.job import output

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("unseen.job.pipeline.write", full)
    with pytest.raises(UserError, match="No space left on device.*free space"):
        run(make_cfg([], tmp_path / "run"))
    assert not (tmp_path / "run" / output.STAGING).exists()


def test_metrics_json_is_strict_json(tmp_path):
    from unseen.job.output import strict_json

    assert strict_json({"a": [float("nan"), 1.0, {"b": float("inf")}], "c": "x"}) == {"a": [None, 1.0, {"b": None}],
                                                                                       "c": "x"}
    run(make_cfg(["sampler.count=2", "sampler.batch_size=2", "target.num_eval=2"], tmp_path / "run"))

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(), parse_constant=refuse)
    assert metrics["precision_recall"]["precision"] is None or math.isfinite(metrics["precision_recall"]["precision"])


# --- inputs that are the run's own outputs ---------------------------------------------------------------------


def test_a_runs_output_inside_the_target_folder_is_never_read(tmp_path, caplog):
    from unseen.data import image_files

    folder = random_images(tmp_path / "faces", 6)
    earlier = folder / "outputs" / "2026-01-01" / "10-00-00"
    random_images(earlier / "samples", 5, start=100)
    (earlier / ".hydra").mkdir()
    (earlier / "metrics.json").write_text("{}")
    random_images(folder / "cache" / "inversions", 2, start=200)
    with caplog.at_level("WARNING"):
        files = image_files(str(folder), exclude=[str(folder / "cache")])
    assert [f.name for f in files] == [f"img{i:03d}.png" for i in range(6)]
    assert "left out 2 folder(s)" in caplog.text


# --- the cache --------------------------------------------------------------------------------------------------


def test_a_cache_point_of_the_wrong_shape_is_recomputed(tmp_path, random_unet, alphas_cumprod, caplog):
    from safetensors.torch import save_file

    from unseen.job.cache import invert_cached
    from unseen.method import ddim

    predictor = ddim.NoisePredictor(random_unet, alphas_cumprod, 8)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    grid = [0, 10, 20]
    folder = tmp_path / "inversions" / "k"
    folder.mkdir(parents=True)
    save_file({"latents": torch.zeros(3, 3, 16, 16)}, folder / "t0020.safetensors")  # 3 references, not 4
    with caplog.at_level("WARNING"):
        z, info = invert_cached(predictor, x, grid, tmp_path, "k")
    assert info["steps_run"] == 2 and "damaged or foreign" in caplog.text
    torch.testing.assert_close(z.float(), ddim.invert(predictor, x, grid)[-1].float(), rtol=0, atol=0)


def test_a_full_cache_disk_is_one_line(tmp_path, random_unet, alphas_cumprod, monkeypatch):
    from unseen.job import cache
    from unseen.method import ddim

    def full(*args, **kwargs):
        raise RuntimeError("Error while serializing: IoError(No space left on device)")

    monkeypatch.setattr(cache, "save_file", full)
    predictor = ddim.NoisePredictor(random_unet, alphas_cumprod, 8)
    with pytest.raises(UserError, match="cannot write the inversion cache point .*free space"):
        cache.invert_cached(predictor, torch.zeros(2, 3, 16, 16), [0, 10], tmp_path, "k")


def test_a_model_without_a_middle_block_fails_before_inverting(tmp_path):
    from diffusers import DDPMScheduler, UNet2DModel

    unet = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(16, 32),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=8, mid_block_type=None)
    unet.save_pretrained(tmp_path / "m" / "unet")
    DDPMScheduler(num_train_timesteps=1000).save_pretrained(tmp_path / "m" / "scheduler")
    with pytest.raises(UserError, match="no middle block.*eval.unet_memorisation=false"):
        run(make_cfg([f"model.pretrained={tmp_path / 'm'}"], tmp_path / "run"))
    assert not (tmp_path / "run" / "samples").exists()


def test_an_output_disk_without_room_is_one_line_before_any_folder(tmp_path, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 10**5, 10**5))  # 100 kB free
    proc = cli_here(*SMALL, "sampler.count=64", f"hydra.run.dir={tmp_path}/run", capsys=capsys,
                    monkeypatch=monkeypatch)
    assert_one_line_error(proc, "GB free and the run writes about")
    assert not (tmp_path / "run").exists()


def test_a_crashed_sweep_job_is_named_by_its_exception_in_the_summary(tmp_path, capsys, monkeypatch):
    import csv

    def crash(*args, **kwargs):
        raise RuntimeError("the UNet fell over")

    monkeypatch.setattr("unseen.job.pipeline.run", crash)
    proc = cli_here("-m", *SMALL, "seed=0,1", f"hydra.sweep.dir={tmp_path}/sweep", capsys=capsys,
                    monkeypatch=monkeypatch)
    assert proc.returncode == 2
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "summary.csv")))
    assert [r["error"] for r in rows] == ["RuntimeError: the UNet fell over"] * 2


@pytest.mark.parametrize("after", [0.3, 1.0, 2.5])
def test_ctrl_c_in_the_first_seconds_is_one_line(after, tmp_path):
    """While Python imports torch and Hydra, and while the config is checked: one line, exit 130, no folder."""
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import default_sigint

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "run.py"), *SMALL, "mixing.t_M=900", "cache_dir=null",
                             f"hydra.run.dir={tmp_path}/run"], cwd=tmp_path, env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_ctrl_c_inside_an_import_that_swallows_it_is_still_one_line(tmp_path):
    """torch once swallowed a KeyboardInterrupt raised while it imported numpy.linalg and died seconds later of a
    RecursionError: while the run is checked, Ctrl-C inside any import ends the process at once."""
    import signal
    import subprocess
    import sys
    import time

    from tests.helpers import default_sigint

    (tmp_path / "swallower.py").write_text(
        "import time\ntry:\n    time.sleep(30)\nexcept BaseException:\n    pass\nraise RecursionError('half-imported')\n")
    script = ("import signal, sys; sys.path.insert(0, sys.argv[1]); from unseen.job import cli\n"
              "signal.signal(signal.SIGINT, cli._on_sigint_while_checking)\nprint('ready', flush=True)\n"
              "import swallower\n")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "interrupted: no results were written", err[-2000:]
