"""One job over several processes: ``torchrun --standalone --nproc_per_node N run.py <overrides>`` (gloo on CPU)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from unseen.job.distributed import Dist

ROOT = Path(__file__).resolve().parents[2]
TORCHRUN = Path(sys.executable).with_name("torchrun")
# 20 references in micro-batches of 8 (8, 8, 4: rank 0 takes two, rank 1 one); 8 samples in chunks of 4 (one each)
JOB = ["logger=none", "target.num_references=20", "target.num_eval=32", "sampler.count=8", "sampler.batch_size=4",
       "model.batch_size=8", "mixing.t_M=100", "mixing.reconstruct=2", "progress=false"]
# CPU convolutions' results depend on the thread count; torchrun gives each process one thread, so does the reference
ENV = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")


def test_whole_chunks_are_divided_contiguously():
    parts = [Dist(r, 3).my_chunks(20, 4) for r in range(3)]  # 5 chunks: 2, 2, 1
    assert [(p.start, p.stop) for p in parts] == [(0, 8), (8, 16), (16, 20)]
    assert [(p.start, p.stop) for p in (Dist(r, 4).my_chunks(5, 8) for r in range(4))] == [(0, 5), (5, 5), (5, 5),
                                                                                           (5, 5)]


def _torchrun(*args, cwd, n=2):
    return subprocess.Popen([str(TORCHRUN), "--standalone", "--nproc_per_node", str(n), str(ROOT / "run.py"), *args],
                            cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_processes_equal_one_bit_for_bit(tmp_path):
    single = subprocess.run([sys.executable, str(ROOT / "run.py"), *JOB, "cache_dir=null",
                             f"hydra.run.dir={tmp_path}/single"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                            timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    proc = _torchrun(*JOB, f"cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/sharded", cwd=tmp_path)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    a, b = tmp_path / "single", tmp_path / "sharded"
    for name in ("references", "samples"):
        assert (load_file(a / "latents.safetensors")[name] == load_file(b / "latents.safetensors")[name]).all()
    for i in range(8):
        assert (a / "samples" / f"{i:05d}.png").read_bytes() == (b / "samples" / f"{i:05d}.png").read_bytes()
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma["unet_evaluations"] == mb["unet_evaluations"] == {"invert": 200, "reconstruct": 22, "generate": 88}
    assert mb["world_size"] == 2 and ma["fid_kid"] == mb["fid_kid"]
    assert not (b / ".partial").exists() and len(list((b / "samples").iterdir())) == 8
    assert out.count("results") == 1  # one summary, from rank 0


@pytest.mark.slow
def test_a_sharded_walk_writes_the_cache_for_the_next_sharded_run(tmp_path):
    for run, inverted in (("first", 200), ("again", 0)):
        proc = _torchrun(*JOB, f"cache_dir={tmp_path}/cache", f"hydra.run.dir={tmp_path}/{run}", cwd=tmp_path)
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-3000:]
        assert json.loads((tmp_path / run / "metrics.json").read_text())["unet_evaluations"]["invert"] == inverted


def _worker_pids(torchrun_pid: int) -> dict[int, int]:
    """{rank: pid} of torchrun's worker processes, read from /proc."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = (proc / "status").read_text()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        rank = [e for e in environ if e.startswith(b"RANK=")]
        if ppid == torchrun_pid and rank:
            found[int(rank[0].split(b"=")[1])] = int(proc.name)
    return found


@pytest.mark.slow  # ~20 s of torchrun; the default suite keeps the bit-for-bit test (10-minute budget)
def test_a_rank_that_dies_fails_the_job_and_leaves_no_result(tmp_path):
    run_dir = tmp_path / "run"
    proc = _torchrun(*JOB, "mixing.t_M=900", "cache_dir=null", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    deadline = time.time() + 120
    while not (run_dir / ".partial").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    workers = _worker_pids(proc.pid)
    assert set(workers) == {0, 1}, workers
    os.kill(workers[1], signal.SIGKILL)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0
    assert "rank" in out and ("terminated" in out or "FAILED" in out)
    assert not (run_dir / "metrics.json").exists() and not (run_dir / ".partial").exists()


@pytest.mark.slow  # torchrun's start-up for a one-line refusal: `make test-slow`
def test_a_sweep_under_torchrun_is_refused(tmp_path):
    proc = _torchrun("-m", *JOB, "mixing.t_M=100,200", cwd=tmp_path)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "torchrun shards one job" in out
