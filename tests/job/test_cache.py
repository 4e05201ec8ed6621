"""The inversion cache: a t_M sweep inverts once, runs resume, racing runs agree."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import FakeUNet, make_cfg, run
from unseen.job.wandb_offline import history_keys, records

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.mark.slow  # the sweep summary is also checked by test_cli's failing sweep and test_bad_input_and_result_folders' crashed sweep: `make test-slow`
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


def test_a_damaged_cache_point_is_named_removed_and_recomputed(tmp_path, caplog):
    cache = tmp_path / "cache"
    first = _run(tmp_path, "a", 30, cache)
    (folder,) = (cache / "inversions").iterdir()
    point = folder / "t0030.safetensors"
    point.write_bytes(point.read_bytes()[:100])  # truncated, as by a full disk
    with caplog.at_level("WARNING"):
        again = _run(tmp_path, "b", 30, cache)
    assert str(point) in caplog.text and "damaged" in caplog.text
    assert again["unet_evaluations"]["invert"] == 20 and again["inversion"]["resumed_from"] == 20
    torch.testing.assert_close(load_file(tmp_path / "a" / "latents.safetensors")["samples"],
                               load_file(tmp_path / "b" / "latents.safetensors")["samples"], rtol=0, atol=0)
    assert load_file(point)["latents"].shape == (20, 3, 32, 32)
    del first


def test_keep_bounds_the_points_on_disk_and_a_sweep_on_them_still_inverts_once(tmp_path):
    cache = tmp_path / "cache"
    keep = ["cache_keep=20"]
    assert _run(tmp_path, "a", 50, cache, keep)["unet_evaluations"]["invert"] == 100
    (folder,) = (cache / "inversions").iterdir()
    assert sorted(p.name for p in folder.glob("*.safetensors")) == ["t0020.safetensors", "t0040.safetensors",
                                                                    "t0050.safetensors"]
    assert _run(tmp_path, "b", 40, cache, keep)["unet_evaluations"]["invert"] == 0
    assert _run(tmp_path, "c", 60, cache, keep)["unet_evaluations"]["invert"] == 20  # from 50
    metrics = _run(tmp_path, "d", 20, cache, keep)
    assert metrics["unet_evaluations"]["invert"] == 0 and metrics["inversion"]["bytes"] > 0


def test_a_size_cap_fails_clearly_instead_of_filling_the_disk(tmp_path):
    from unseen.errors import UserError

    with pytest.raises(UserError, match="would grow to .* over cache_max_gb = 1e-06.*cache_keep"):
        _run(tmp_path, "a", 30, tmp_path / "cache", ["cache_max_gb=0.000001"])
    assert not (tmp_path / "a" / "metrics.json").exists()


def test_the_key_follows_device_and_precision():
    from unseen.job.cache import inversion_key

    images = torch.zeros(2, 3, 4, 4)
    keys = {inversion_key("m", images, "stride:10", d, p) for d in ("cpu", "cuda") for p in ("fp32", "bf16")}
    assert len(keys) == 4


def test_a_waiting_job_takes_the_point_it_needs_from_the_lock_holder(tmp_path):
    """Two jobs on one key: the second waits on the lock and does not invert again."""
    import threading

    from unseen.job.cache import invert_cached
    from unseen.method import ddim

    def slow(x, t):
        time.sleep(0.05)
        return 0.1 * x


    ac = torch.linspace(0.999, 0.01, 1000, dtype=torch.float64)
    images = torch.rand(3, 3, 4, 4)
    grid = list(range(0, 201, 10))
    preds = [ddim.NoisePredictor(FakeUNet(slow), ac), ddim.NoisePredictor(FakeUNet(slow), ac)]
    results = {}

    def job(i, g):
        results[i] = invert_cached(preds[i], images, g, tmp_path, "key")

    a = threading.Thread(target=job, args=(0, grid))
    a.start()
    time.sleep(0.2)  # job 0 holds the lock and walks to 200; job 1 needs 100
    b = threading.Thread(target=job, args=(1, grid[:11]))
    b.start()
    a.join()
    b.join()
    assert preds[0].evaluations == 3 * 20 and preds[1].evaluations == 0
    assert results[1][1]["steps_run"] == 0
    alone = ddim.invert_to(ddim.NoisePredictor(FakeUNet(slow), ac), images, grid[:11])
    torch.testing.assert_close(results[1][0], alone, rtol=0, atol=0)
    assert not (tmp_path / "inversions" / "key" / ".lock").exists()


def test_a_stale_lock_of_a_dead_process_is_broken(tmp_path):
    import socket

    from unseen.job.cache import invert_cached
    from unseen.method import ddim

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "inversions" / "key"
    folder.mkdir(parents=True)
    (folder / ".lock").write_text(f"{socket.gethostname()} {dead.pid} -")
    conv = torch.nn.Conv2d(3, 3, 1)
    pred = ddim.NoisePredictor(FakeUNet(lambda x, t: conv(x)), torch.linspace(0.999, 0.01, 1000, dtype=torch.float64))
    _, info = invert_cached(pred, torch.rand(2, 3, 4, 4), [0, 10, 20], tmp_path, "key")
    assert info["steps_run"] == 2


@pytest.mark.slow
def test_two_parallel_submitit_local_jobs_spend_one_inversion(tmp_path):
    """hydra/launcher=submitit_local runs the jobs in parallel processes; the lock makes them share one walk."""
    import csv
    import json

    args = ["-m", "hydra/launcher=submitit_local", "logger=none", "mixing.t_M=100,200", "target.num_references=20",
            "target.num_eval=16", "sampler.count=4", "mixing.reconstruct=0", "progress=false",
            f"cache_dir={tmp_path}/cache", f"hydra.sweep.dir={tmp_path}/sweep"]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=tmp_path, capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "summary.csv")))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    invert = sum(json.loads((tmp_path / "sweep" / r["job"] / "metrics.json").read_text())["unet_evaluations"]["invert"]
                 for r in rows)
    assert invert == 20 * 20  # one walk to t_M = 200, shared


def test_a_requeued_slurm_job_breaks_its_own_old_lock_and_resumes(tmp_path, monkeypatch):
    """Preempted, submitit requeues the same job (the launcher's checkpoint resubmits it with the same
    arguments, so the same output folder and key); the new process finds its old lock and the cache."""
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

    from unseen.job.cache import _lock_is_stale

    launcher = BaseSubmititLauncher.__new__(BaseSubmititLauncher)
    resubmission = launcher.checkpoint(["mixing.t_M=100"], "dir", 0, "id", {})
    assert resubmission.function is launcher and resubmission.args[0] == ["mixing.t_M=100"]
    lock = tmp_path / ".lock"
    lock.write_text("othernode 12345 777")  # written on another node, before the preemption
    monkeypatch.setenv("SLURM_JOB_ID", "777")
    assert _lock_is_stale(lock, stale_after=1e9)
    monkeypatch.setenv("SLURM_JOB_ID", "778")  # another job's lock is respected
    assert not _lock_is_stale(lock, stale_after=1e9)


def test_the_automatic_keep_rule_follows_the_resolution():
    from unseen.job.cache import keep_policy

    def cache_keep(cfg, resolution):
        return keep_policy(cfg.cache_keep, resolution)

    cfg = make_cfg([], "/tmp/x")
    assert cache_keep(cfg, 32) is None and cache_keep(cfg, 256) == 100
    assert cache_keep(make_cfg(["cache_keep=1"], "/tmp/x"), 256) is None
    assert cache_keep(make_cfg(["cache_keep=50"], "/tmp/x"), 32) == 50
