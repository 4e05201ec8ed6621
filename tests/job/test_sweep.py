"""Sweeps through Hydra's launchers: the submitit launcher (local here; Slurm runs the same job code) and the sweep
summary."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_sweep_through_the_submitit_launcher_runs_its_jobs(tmp_path):
    """The launcher's job process never runs the CLI's main(): the job must find its place (one process) itself."""
    args = ["-m", "hydra/launcher=submitit_local", "logger=none", "mixing.t_M=100,200", "target.num_references=8",
            "target.num_eval=8", "sampler.count=2", "sampler.batch_size=2", "mixing.reconstruct=0", "progress=false",
            "eval=none", f"cache_dir={tmp_path}/cache", f"hydra.sweep.dir={tmp_path}/sweep"]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "summary.csv")))
    assert [r.get("error", "") for r in rows] == ["", ""], rows
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [json.loads((tmp_path / "sweep" / r["job"] / "metrics.json").read_text())["t_M"] for r in rows] == [100, 200]
