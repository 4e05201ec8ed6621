"""The inversion cache: a t_M sweep inverts once, runs resume, racing runs agree."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.helpers import make_cfg
from unseen.wandb_offline import history_keys, records
from unseen.pipeline import run

ROOT = Path(__file__).resolve().parents[1]
STRIDE = ["mixing.steps=null", "mixing.stride=10", "sampler.count=4", "mixing.reconstruct=0", "eval=none"]


def _run(tmp, name, t_m, cache, extra=()):
    return run(make_cfg(STRIDE + [f"mixing.t_M={t_m}", *extra], tmp / name, cache_dir=cache))


def test_a_t_M_sweep_inverts_once_in_total(tmp_path):
    cache = tmp_path / "cache"
    evals = [_run(tmp_path, f"t{t}", t, cache)["unet_evaluations"]["invert"] for t in (40, 20, 60)]
    assert evals == [20 * 4, 0, 20 * 2]  # K = 20 references: 6 steps in total, one inversion to t_M = 60
    assert _run(tmp_path, "again", 60, cache)["unet_evaluations"]["invert"] == 0
    fresh = run(make_cfg(STRIDE + ["mixing.t_M=60"], tmp_path / "nocache"))
    assert fresh["unet_evaluations"]["invert"] == 120
    # the walk assembled from three runs is bit-identical to one uninterrupted walk
    torch.testing.assert_close(load_file(tmp_path / "t60" / "latents.safetensors")["references"],
                               load_file(tmp_path / "nocache" / "latents.safetensors")["references"], rtol=0, atol=0)


def test_a_killed_run_resumes_and_gives_the_same_samples(tmp_path):
    cache = tmp_path / "cache"
    first = _run(tmp_path, "a", 50, cache)
    (folder,) = (cache / "inversions").iterdir()
    for t in (50, 40):  # as if killed after t = 30 was written
        (folder / f"t{t:04d}.safetensors").unlink()
    again = _run(tmp_path, "b", 50, cache)
    assert first["unet_evaluations"]["invert"] == 100 and again["unet_evaluations"]["invert"] == 40
    assert again["inversion"]["resumed_from"] == 30
    torch.testing.assert_close(load_file(tmp_path / "a" / "latents.safetensors")["samples"],
                               load_file(tmp_path / "b" / "latents.safetensors")["samples"], rtol=0, atol=0)
    for name in ("a", "b"):
        assert (tmp_path / name / "samples" / "00003.png").read_bytes() == \
            (tmp_path / "a" / "samples" / "00003.png").read_bytes()


def test_the_key_changes_with_the_references_and_the_grid(tmp_path):
    cache = tmp_path / "cache"
    _run(tmp_path, "a", 20, cache)
    assert _run(tmp_path, "b", 20, cache, ["target.seed=1"])["unet_evaluations"]["invert"] == 40
    assert _run(tmp_path, "c", 20, cache, ["mixing.stride=5"])["unet_evaluations"]["invert"] == 80
    assert len(list((cache / "inversions").iterdir())) == 3


def test_two_runs_racing_on_an_empty_cache(tmp_path):
    cache = tmp_path / "cache"
    args = ["target.num_references=20", "mixing.t_M=60", "sampler.count=4", "eval=none",
            "mixing.reconstruct=0", "progress=false", f"cache_dir={cache}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, f"hydra.run.dir={tmp_path}/{n}"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n in ("a", "b")]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    a, b = (load_file(tmp_path / n / "latents.safetensors") for n in ("a", "b"))
    torch.testing.assert_close(a["samples"], b["samples"], rtol=0, atol=0)
    (folder,) = (cache / "inversions").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [f"t{t:04d}.safetensors" for t in range(10, 61, 10)]
    for f in folder.iterdir():  # every file whole and readable
        assert load_file(f)["latents"].shape == (20, 3, 32, 32)


def test_a_multirun_sweep_writes_its_summary(tmp_path):
    import csv
    import json

    args = ["-m", "logger=wandb", "mixing.t_M=20,40", "geometry=reject", "geometry.bandwidth=2,4", "prior=residual",
            "target.num_references=12", "target.num_eval=16", "sampler.count=4",
            "mixing.reconstruct=0", "progress=false", f"cache_dir={tmp_path}/cache",
            f"hydra.sweep.dir={tmp_path}/sweep"]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    rows = list(csv.DictReader(open(sweep / "summary.csv")))
    assert len(rows) == 4 and (sweep / "summary.png").stat().st_size > 1000
    invert, groups = 0, set()
    for row in rows:
        metrics = json.loads((sweep / row["job"] / "metrics.json").read_text())
        assert float(row["fid_kid.fid"]) == metrics["fid_kid"]["fid"]
        assert row["override.mixing.t_M"] == str(metrics["t_M"])
        invert += metrics["unet_evaluations"]["invert"]
        (wandb_file,) = (sweep / row["job"] / "wandb").glob("offline-run-*/run-*.wandb")
        groups.add(next(r.run.run_group for r in records(wandb_file) if r.WhichOneof("record_type") == "run"))
    assert invert == 12 * 4  # the whole sweep inverted once, to t_M = 40
    assert len(groups) == 1 and groups.pop().startswith("sweep-")  # one W&B group for the sweep
    (summary_run,) = sweep.glob("wandb/offline-run-*/run-*.wandb")  # the summary is logged too
    assert json.loads(history_keys(records(summary_run))["summary_table/_type"]) == "table-file"
