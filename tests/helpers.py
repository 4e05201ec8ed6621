from hydra import compose, initialize_config_dir

from unseen.job.api import wire
from unseen.job.config import conf_dir

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
