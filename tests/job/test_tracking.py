import json

from tests.helpers import make_cfg, run
from unseen.job.wandb_offline import history_keys, records


def test_offline_wandb_run_holds_config_metrics_grid_and_histograms(tmp_path):
    out = tmp_path / "run"
    metrics = run(make_cfg(["logger=wandb", "geometry=reject", "geometry.bandwidth=3", "prior=residual"], out),
                  group="sweep-x")
    (run_dir,) = (out / "wandb").glob("offline-run-*")
    recs = records(next(run_dir.glob("run-*.wandb")))
    (run_record,) = [r.run for r in recs if r.WhichOneof("record_type") == "run"]
    assert run_record.run_group == "sweep-x" and run_record.project == "unseen"
    config = {item.key: json.loads(item.value_json) for item in run_record.config.update}
    assert config["mixing"]["t_M"] == 200 and config["geometry"]["mode"] == "reject"
    history = history_keys(recs)
    assert float(history["fid_kid/fid"]) == metrics["fid_kid"]["fid"]
    assert float(history["domain_rates/target_rate"]) == metrics["domain_rates"]["target_rate"]
    assert json.loads(history["grid/_type"]) == "image-file"
    assert list(run_dir.glob("files/media/images/grid_*.png"))
    for population in ("reference", "draws", "accepted"):
        key = f"geometry/distance/{population}"
        assert json.loads(history[f"{key}/_type"]) == "histogram" and sum(json.loads(history[f"{key}/values"])) > 0


def test_a_wandb_failure_is_a_warning_not_a_failed_run(tmp_path, caplog, monkeypatch):
    import wandb

    def broken(*args, **kwargs):
        raise RuntimeError("the W&B service did not start")

    monkeypatch.setattr(wandb, "init", broken)
    out = tmp_path / "run"
    run(make_cfg(["logger=wandb"], out))
    assert (out / "metrics.json").is_file()
    assert any("W&B logging failed" in r.message for r in caplog.records)


def test_an_auto_run_logs_its_candidates_as_a_table(tmp_path):
    out = tmp_path / "run"
    metrics = run(make_cfg(["logger=wandb", "auto.enabled=true", "auto.t_M=[20,40]", "auto.count=4", "mixing.steps=null",
                            "+auto.candidates.slerp=['sampler.source=slerp']", "sampler.count=4",
                            "+auto.candidates.residual=['prior.variance=residual']", "mixing.reconstruct=0"], out))
    (run_dir,) = (out / "wandb").glob("offline-run-*")
    history = history_keys(records(next(run_dir.glob("run-*.wandb"))))
    assert json.loads(history["auto/candidates/_type"]) == "table-file"
    assert json.loads(history["auto/candidates/nrows"]) == len(metrics["auto"]["candidates"]) == 4
    assert json.loads(history["nearest/_type"]) == "image-file"


def test_without_home_the_wandb_service_prints_nothing(tmp_path):
    """A bare container or cron job has no $HOME: W&B's service found no folders and printed a dozen lines, "ERROR"
    among them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, str(root / "run.py"), "logger=wandb", "sampler.count=4", "eval=none",
                           "target.num_references=8", "mixing.reconstruct=0", "mixing.t_M=100", "progress=false",
                           f"hydra.run.dir={tmp_path}/run", f"cache_dir={tmp_path}/cache"],
                          cwd=tmp_path, env=dict(env, TMPDIR=str(tmp_path)), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ERROR" not in proc.stderr and "ERROR" not in proc.stdout, proc.stderr[-2000:]
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))
