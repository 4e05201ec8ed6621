"""The README's promise for every input: one line naming the problem and the fix, exit code 2, and no
results written; checked from outside, through the command line a user types."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import CLI_SMALL as SMALL
from tests.helpers import assert_one_line_error, cli, cli_here, default_sigint, no_results

ROOT = Path(__file__).resolve().parents[2]


CASES = {  # the list, in its order: overrides -> what the one line must say
    "slerp with one reference": (["sampler=slerp", "target.num_references=1"], "use at least 2 references"),
    "a string for a number": (["sampler.count=abc"], "sampler.count=abc"),
    "an unknown key": (["foo=1"], "unknown config key 'foo'"),
    "an unknown choice": (["prior=nonexistent"], "valid choices: diagonal, mixture, pca, residual, scalar"),
    "an unknown preset": (["experiment=doesnotexist"], "Could not find 'experiment/doesnotexist'; valid choices"),
    "residual prior with one reference": (["prior=residual", "target.num_references=1"], "add references"),
    "a file as target.path": (["target=folder", "target.path=FILE"], "is a file, not a folder"),
    "t_M zero": (["mixing.t_M=0"], "mixing.t_M must be in [1, T-1]"),
    "an unknown target": (["target=faces"], "Could not find 'target/faces'; valid choices: afhq_cat"),
    "an unknown symmetry": (["prior.symmetries=[shift,spin]"], "prior.symmetries must be a subset of"),
    "auto on the paper's grid": (["experiment=auto", "mixing.steps=20"], "experiment=auto needs the stride grid"),
    "a bad auto candidate": (["experiment=auto", "+auto.candidates.x=['geometry.mode=wiggle']"],
                             "auto.candidates.x: geometry.mode must be one of"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_no_results(case, tmp_path, capsys, monkeypatch):
    overrides, match = CASES[case]
    (tmp_path / "a_file").write_text("")
    overrides = [o.replace("FILE", str(tmp_path / "a_file")) for o in overrides]
    proc = cli_here(*SMALL, *overrides, f"hydra.run.dir={tmp_path}/run", capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, match)
    assert no_results(tmp_path / "run")


def test_the_residual_message_does_not_suggest_components(tmp_path, capsys, monkeypatch):
    proc = cli_here(*SMALL, "prior=residual", "target.num_references=1", f"hydra.run.dir={tmp_path}/run",
                    capsys=capsys, monkeypatch=monkeypatch)
    assert "components" not in proc.stderr


@pytest.mark.parametrize("where", ["/proc/x", "FILE/x"])
def test_an_output_folder_that_cannot_be_made(where, tmp_path, capsys, monkeypatch):
    (tmp_path / "a_file").write_text("")
    proc = cli_here(*SMALL, f"hydra.run.dir={where.replace('FILE', str(tmp_path / 'a_file'))}", capsys=capsys,
                    monkeypatch=monkeypatch)
    assert_one_line_error(proc, "cannot create the output folder (hydra.run.dir)")


def test_missing_inception_weights_fail_before_any_work(tmp_path):
    start = time.perf_counter()
    proc = cli(*SMALL, "eval=inception", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path,
               env={"TORCH_HOME": str(tmp_path / "torch")})
    assert_one_line_error(proc, "pt_inception-2015-12-05-6726825d.pth")
    assert time.perf_counter() - start < 60 and not (tmp_path / "run").exists()  # no folder: nothing ran


@pytest.mark.parametrize("kind", ["a file", "unwritable"])
def test_a_bad_cache_folder(kind, tmp_path, capsys, monkeypatch):
    target = tmp_path / "cache"
    if kind == "a file":
        target.write_text("")
    else:
        target = Path("/proc/unseen-cache")
    proc = cli_here(*SMALL, f"hydra.run.dir={tmp_path}/run", capsys=capsys, monkeypatch=monkeypatch,
                    env={"UNSEEN_CACHE": str(target)})
    assert_one_line_error(proc, "cannot write the cache folder cache_dir (set by $UNSEEN_CACHE)")


def test_a_failing_job_does_not_end_the_sweep(tmp_path):
    import csv

    proc = cli("-m", *SMALL, "mixing.t_M=105,100", f"hydra.sweep.dir={tmp_path}/sweep", f"cache_dir={tmp_path}/c",
               cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    rows = {r["job"]: r for r in csv.DictReader(open(tmp_path / "sweep" / "summary.csv"))}
    assert rows["0"]["status"] == "failed" and "multiple of mixing.stride" in rows["0"]["error"]
    assert rows["1"]["status"] == "ok" and float(rows["1"]["domain_rates.target_rate"]) >= 0
    assert (tmp_path / "sweep" / "1" / "metrics.json").is_file()
    assert no_results(tmp_path / "sweep" / "0")
    assert "1 job(s) of the sweep failed" in proc.stderr


@pytest.mark.parametrize("sig,code,word", [(signal.SIGINT, 130, "interrupted"),
                                           pytest.param(signal.SIGTERM, 143, "terminated", marks=pytest.mark.slow)])
def test_an_interrupted_run_says_one_line_and_leaves_no_staging(sig, code, word, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *SMALL, "target.num_references=64",
                             "mixing.t_M=900", f"hydra.run.dir={tmp_path}/run", "cache_dir=null"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.time() + 120
    while not (tmp_path / "run" / ".partial").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(word)
    assert no_results(tmp_path / "run")


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(tmp_path):
    from tests.helpers import make_cfg, run

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "day" / "10-00-00" / ".partial"
    stale.mkdir(parents=True)
    (stale / "owner").write_text(f"{os.uname().nodename} {dead.pid}\n")
    alive = tmp_path / "day" / "10-00-01" / ".partial"
    alive.mkdir(parents=True)
    (alive / "owner").write_text(f"{os.uname().nodename} {os.getpid()}\n")
    run(make_cfg(["sampler.count=2", "mixing.reconstruct=0", "eval=none"], tmp_path / "day" / "10-00-02"))
    assert not stale.exists() and alive.exists()  # a live run's staging folder is never touched


def test_fp16_on_the_cpu_warns():
    from unseen.job.api import wire
    from unseen.models.loading import load_model

    wire()
    with pytest.warns(UserWarning, match="model.precision=fp16 on the CPU is slower"):
        load_model("builtin:tiny_ddpm", precision="fp16")


def test_a_model_folder_error_names_the_fix(tmp_path):
    from unseen.errors import UserError
    from unseen.models.loading import load_model

    with pytest.raises(UserError, match="could not load .* must be a diffusers folder .*python -m unseen.models.convert"):
        load_model(str(tmp_path))


@pytest.mark.slow
def test_the_console_script_runs_from_any_folder_after_a_non_editable_install(tmp_path):
    """`pip install .` (a wheel, not editable) into a fresh environment whose only other packages are this one's
    dependencies: the configs ship inside the package and `unseen` runs the default job from a temporary folder."""
    import shutil
    import site
    import sysconfig

    # built from a copy of the tracked files: setuptools writes build/ and *.egg-info beside the sources
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True)
    src = tmp_path / "src"
    for name in tracked.stdout.splitlines():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"),
                    str(src)], check=True, timeout=600, capture_output=True)
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies come from this environment (a .pth line is not an editable finder: our checkout stays out)
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if "site-packages" in p]
    Path(purelib, "deps.pth").write_text("\n".join(deps) + "\n")
    (wheel,) = (tmp_path / "wheel").glob("unseen-*.whl")
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300,
                   capture_output=True)
    where = tmp_path / "elsewhere"
    where.mkdir()
    located = subprocess.run([str(py), "-c", "import unseen; print(unseen.__file__)"], cwd=where, capture_output=True,
                             text=True, check=True).stdout
    assert str(env_dir) in located and str(ROOT) not in located
    proc = subprocess.run([str(env_dir / "bin" / "unseen"), *SMALL, "hydra.run.dir=out"], cwd=where,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (where / "out" / "metrics.json").is_file() and "classifier: smileys" in proc.stdout
    # the Python API from the same install: conf/ shipped as unseen/conf, runs outside the checkout
    code = ("import json, pathlib, unseen; r = unseen.run(*json.loads(pathlib.Path('args.json').read_text()), "
            "output_dir='api'); print(pathlib.Path(unseen.__file__).parent / 'conf' / 'config.yaml', "
            "r.dir, r.metrics['samples']['count'])")
    (where / "args.json").write_text(json.dumps([*SMALL, "sampler.count=4"]))
    api = subprocess.run([str(py), "-c", code], cwd=where, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert api.returncode == 0, api.stderr[-3000:]
    conf, out, count = api.stdout.split()[-3:]
    assert Path(conf).is_file() and str(env_dir) in conf and out == "api" and count == "4"
    assert json.loads((where / "api" / "metrics.json").read_text())["samples"]["count"] == 4
