"""``python -m unseen.job.wandb_offline FILE``: what a user points it at, read or refused in one line (exit 2)."""

import os
import struct
import subprocess
import sys

import pytest
from wandb.proto import wandb_internal_pb2 as pb

from unseen.job.wandb_offline import NotARunFile, read_finished


def run_file(path, *records):
    """A W&B run file: the ':W&B' header, then each record as one LevelDB 'full' chunk."""
    data = b":W&B\x00\x01\x00"
    for r in records:
        body = r.SerializeToString()
        data += struct.pack("<IHB", 0, len(body), 1) + body
    path.write_bytes(data)
    return path


def a_run():
    r = pb.Record()
    r.run.run_id, r.run.project = "abc", "unseen"
    done = pb.Record()
    done.exit.exit_code = 0
    return r, done


def cli(*args):
    return subprocess.run([sys.executable, "-m", "unseen.job.wandb_offline", *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def test_a_finished_run_file_is_read(tmp_path):
    f = run_file(tmp_path / "run-abc.wandb", *a_run())
    assert [r.WhichOneof("record_type") for r in read_finished(f)] == ["run", "exit"]
    out = cli(f)
    assert out.returncode == 0 and "run abc  project unseen" in out.stdout


@pytest.mark.parametrize("case", ["missing", "folder", "not_wandb", "truncated", "header_only"])
def test_what_is_not_a_run_file_is_one_line_and_exit_2(tmp_path, case):
    f = tmp_path / "run-abc.wandb"
    if case == "folder":
        f = tmp_path
    elif case == "not_wandb":
        f.write_text("hello, not a run\n")
    elif case == "truncated":
        run_file(f, *a_run())
        f.write_bytes(f.read_bytes()[:-3])
    elif case == "header_only":
        f.write_bytes(b":W&B\x00\x01\x00")
    if f.is_file():  # written long ago: a finished file is read at once, not waited on
        os.utime(f, (1e9, 1e9))
    with pytest.raises(NotARunFile):
        read_finished(f)
    out = cli(f)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
