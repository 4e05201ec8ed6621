"""What the suites share: the composed config of a small run, runs through the API and the command line, the checks
of a one-line error, random images, and the emoji world's packages made offline."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from unseen.job.api import wire
from unseen.job.config import conf_dir
from unseen.worlds.emoji import data

ROOT = Path(__file__).resolve().parents[1]
CONF = conf_dir()
wire()  # the tiny world's plug-ins and the config schema, as the CLI wires them

# A run small enough for a unit test: seconds on 2 cores.
SMALL = ["logger=none", "target.num_references=20", "target.num_eval=32", "sampler.count=8", "sampler.batch_size=8", "mixing.t_M=200", "mixing.steps=10",
         "mixing.reconstruct=4", "prior=scalar", "progress=false"]


def make_cfg(overrides=(), output_dir=None, small=True, cache_dir=None):
    """The composed config; no shared cache unless ``cache_dir`` is given, so tests never see each other's."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        extra = [f"output_dir={output_dir}"] if output_dir else []
        extra.append(f"cache_dir={cache_dir}" if cache_dir else "cache_dir=null")
        return compose("config", overrides=(SMALL if small else []) + list(overrides) + extra)


class FakeUNet(__import__("torch").nn.Module):
    """A stand-in for a diffusers UNet2DModel in math tests: ``eps(x, t)`` as its output, 3 channels, one
    parameter (the predictor reads the device from it)."""

    config = type("Config", (), {"in_channels": 3})()

    def __init__(self, eps):
        import torch

        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))
        self.eps = eps

    def forward(self, x, t):
        return type("Output", (), {"sample": self.eps(x, t)})()


def run(cfg, **kwargs) -> dict:
    """A composed config run through the Python API (unseen.job.api), as every caller builds runs; its metrics."""
    from unseen.job.api import run_config

    return run_config(cfg, **kwargs).metrics


def random_images(folder, n: int, size: int = 32, start: int = 0):
    """``n`` PNGs of uniform noise (img<start>.png ...) in ``folder``, made if needed; returns the folder."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i:03d}.png")
    return folder


# --- the command line

CLI_SMALL = ["logger=none", "target.num_references=20", "target.num_eval=32", "sampler.count=8", "mixing.t_M=100",
         "mixing.reconstruct=2", "progress=false"]


def cli(*args, cwd, env=None, timeout=300):
    env = dict(os.environ, HF_HUB_OFFLINE="1", **(env or {}))
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


class InProcess:
    """``unseen.job.cli.main`` called in this process: the same code path as the command line, without the
    seconds of a new interpreter (for inputs that fail before any work)."""

    def __init__(self, code, out, err):
        self.returncode, self.stdout, self.stderr = code, out, err


def cli_here(*args, capsys, monkeypatch, env=None):
    from unseen.job.cli import main

    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return InProcess(exit_info.value.code, out, err)


def assert_one_line_error(proc, match):
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "error" in line.lower()]
    assert len(errors) == 1, errors
    assert match in errors[0], errors[0]
    assert "Traceback" not in proc.stderr


def no_results(folder: Path) -> bool:
    return not folder.exists() or not any(p.name in ("metrics.json", "samples", ".partial") for p in folder.iterdir())


def default_sigint():
    """In the child: Ctrl-C's default action, even when the tests run where SIGINT is ignored (a background job
    of a shell ignores it, and Python then never turns it into KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- the emoji world, offline

EMOJI_ROWS = json.loads((ROOT / "tests" / "fixtures" / "emoji_rows.json").read_text())  # 22 real emoji.json rows


def draw_emoji(i: int, vendor: str) -> Image.Image:
    """A coloured disc on a transparent 64 px canvas, different for each row and vendor."""
    rng = np.random.default_rng([i, data.VENDORS.index(vendor)])
    arr = np.zeros((64, 64, 4), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    inside = (yy - 32) ** 2 + (xx - 32) ** 2 < (10 + 3 * (i % 6)) ** 2
    arr[inside, :3] = rng.integers(0, 256, 3)
    arr[inside, 3] = 255
    return Image.fromarray(arr, "RGBA")


def make_packages(root: Path) -> Path:
    """root/<package>/package/{emoji.json, img/<vendor>/64/*.png} for both vendors, as npm unpacks them."""
    for vendor, (name, _) in data.PACKAGES.items():
        pkg = root / name / "package"
        (pkg / "img" / vendor / "64").mkdir(parents=True)
        (pkg / "emoji.json").write_text(json.dumps(EMOJI_ROWS))
        for i, row in enumerate(EMOJI_ROWS):
            draw_emoji(i, vendor).save(pkg / "img" / vendor / "64" / row["image"])
    return root
