"""The Python API: ``unseen.run`` returns the folder and its metrics, ``import unseen`` stays light, and the run's
folder is named as on the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SMALL
from unseen.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_import_unseen_stays_light():
    code = "import sys, unseen; assert callable(unseen.run.__call__); print('torch' in sys.modules)"
    light = "import sys, unseen; print('torch' in sys.modules, 'hydra' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", light], capture_output=True, text=True).stdout.split() == \
        ["False", "False"]
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0


def test_unseen_run_returns_the_folder_and_its_metrics(tmp_path):
    import unseen

    r = unseen.run("target=squares", "sampler.count=4", "sampler.batch_size=4", *SMALL[1:3], "mixing.t_M=100",
                   "mixing.reconstruct=0", "logger=none", "progress=false", f"cache_dir={tmp_path / 'c'}",
                   output_dir=tmp_path / "run")
    assert r.dir == tmp_path / "run" and r.metrics == json.loads((r.dir / "metrics.json").read_text())
    assert r.metrics["target"] == "squares" and r.metrics["samples"]["count"] == 4
    assert len(list((r.dir / "samples").glob("*.png"))) == 4
    with pytest.raises(UserError, match="sampler.count must be >= 1"):
        unseen.run("sampler.count=0", output_dir=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_hydra_run_dir_names_the_apis_folder_too(tmp_path):
    from unseen.job.api import compose

    assert compose(f"hydra.run.dir={tmp_path / 'x'}").output_dir == str(tmp_path / "x")
    assert compose(f"output_dir={tmp_path / 'y'}").output_dir == str(tmp_path / "y")
