"""A run's folder: it writes only into a new or empty folder or an earlier run of its own (recognised by that
run's manifest), a rerun replaces only what the earlier run wrote, and a late failure leaves no folder behind."""

import json
from pathlib import Path

import pytest

from tests.helpers import CLI_SMALL as SMALL
from tests.helpers import assert_one_line_error, cli, cli_here, make_cfg, run
from unseen.errors import UserError
from unseen.job.config import conf_dir
from unseen.job.output import MANIFEST, written_files


def users_folder(folder: Path) -> dict[str, bytes]:
    """A folder of a user's, with names a run writes too."""
    (folder / "samples").mkdir(parents=True)
    files = {"config.yaml": b"mine: 1\n", "grid.png": b"my picture", "samples/my_photo.png": b"photo",
             "samples/00000.png": b"my first", "notes.txt": b"notes"}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return files


def unchanged(folder: Path, files: dict[str, bytes]) -> bool:
    return all((folder / n).read_bytes() == c for n, c in files.items())


def test_a_users_folder_is_refused_by_the_command_line_untouched(tmp_path, capsys, monkeypatch):
    files = users_folder(tmp_path / "mine")
    proc = cli_here(*SMALL, f"hydra.run.dir={tmp_path}/mine", capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, "holds files no unseen run wrote")
    assert unchanged(tmp_path / "mine", files) and sorted(p.name for p in (tmp_path / "mine").iterdir()) == \
        ["config.yaml", "grid.png", "notes.txt", "samples"]


def test_the_projects_conf_folder_is_refused(tmp_path, capsys, monkeypatch):
    before = (conf_dir() / "config.yaml").read_bytes()
    proc = cli_here(*SMALL, f"hydra.run.dir={conf_dir()}", capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, "holds files no unseen run wrote")
    assert (conf_dir() / "config.yaml").read_bytes() == before


def test_a_users_folder_is_refused_by_the_api_untouched(tmp_path):
    files = users_folder(tmp_path / "mine")
    with pytest.raises(UserError, match="holds files no unseen run wrote"):
        run(make_cfg([], tmp_path / "mine"))
    assert unchanged(tmp_path / "mine", files)


def test_a_rerun_replaces_only_what_the_earlier_run_wrote(tmp_path):
    out = tmp_path / "run"
    run(make_cfg(["sampler.count=8"], out))
    first = written_files(out)
    assert "metrics.json" in first and "samples/00007.png" in first and len(first) == len(set(first))
    (out / "samples" / "my_photo.png").write_bytes(b"photo")
    (out / "notes.txt").write_text("mine")
    run(make_cfg(["sampler.count=4"], out))  # fewer samples: the earlier run's 00004..00007 go
    assert (out / "samples" / "my_photo.png").read_bytes() == b"photo" and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["00000.png", "00001.png", "00002.png",
                                                                 "00003.png", "my_photo.png"]
    assert json.loads((out / "metrics.json").read_text())["samples"]["count"] == 4
    assert "samples/my_photo.png" not in written_files(out) and (out / MANIFEST).is_file()


def test_a_rerun_from_the_command_line_starts_a_fresh_log(tmp_path):
    args = [*SMALL, "sampler.count=4", "mixing.reconstruct=0", "eval=none", f"hydra.run.dir={tmp_path}/run",
            f"cache_dir={tmp_path}/cache"]
    for _ in range(2):
        proc = cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    log = (tmp_path / "run" / "unseen.log").read_text()
    assert log.count("generating 4 samples") == 1, log


def test_a_sweep_into_a_folder_that_holds_an_earlier_sweep_is_refused(tmp_path, capsys, monkeypatch):
    sweep = tmp_path / "sweep"
    (sweep / "1").mkdir(parents=True)
    (sweep / "multirun.yaml").write_text("{}")
    (sweep / "1" / "metrics.json").write_text("{}")
    proc = cli_here("-m", *SMALL, "mixing.t_M=100", f"hydra.sweep.dir={sweep}", capsys=capsys,
                    monkeypatch=monkeypatch)
    assert_one_line_error(proc, "already holds an earlier sweep's jobs")
    assert not (sweep / "0").exists() and not (sweep / "summary.csv").exists()


def test_a_late_failure_removes_the_folder_hydra_made(tmp_path, capsys, monkeypatch):
    import unseen.job.api

    def late(*args, **kwargs):
        raise UserError("the model did not load (a late failure)")

    monkeypatch.setattr(unseen.job.api, "run_config", late)
    proc = cli_here(*SMALL, f"hydra.run.dir={tmp_path}/run", capsys=capsys, monkeypatch=monkeypatch)
    assert proc.returncode == 2
    assert not (tmp_path / "run").exists()


def test_a_late_failure_through_the_api_leaves_no_empty_folder(tmp_path, monkeypatch):
    import unseen
    import unseen.job.pipeline

    def late(*args, **kwargs):
        raise UserError("the model did not load (a late failure)")

    monkeypatch.setattr(unseen.job.pipeline, "_run", late)
    with pytest.raises(UserError, match="late failure"):
        unseen.run(*SMALL, output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [(123,), ("target=squares", 123)])
def test_the_api_refuses_overrides_that_are_not_strings(args):
    import unseen

    with pytest.raises(UserError, match="overrides are strings"):
        unseen.run(*args)


def test_a_staging_folder_being_made_beside_is_left_alone(tmp_path):
    """Two runs in sibling folders: one's staging folder exists a moment before its owner file does. The other run
    must not take it for a crashed run's leftover (it did, and the first run then failed to make samples/); one
    without an owner for over a minute is a leftover and goes."""
    import os
    import time

    from unseen.job.output import OWNERLESS_GRACE, STAGING, make_staging

    being_made = tmp_path / "a" / STAGING
    being_made.mkdir(parents=True)
    make_staging(tmp_path / "b")
    assert being_made.is_dir()
    old = time.time() - OWNERLESS_GRACE - 5
    os.utime(being_made, (old, old))
    make_staging(tmp_path / "c")
    assert not being_made.exists()
