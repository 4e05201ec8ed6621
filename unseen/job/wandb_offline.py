"""Read an offline W&B run file (run-*.wandb: LevelDB's log format of W&B protobuf records).

wandb 0.31 ships no reader for offline runs (`wandb sync --view` is gone), so this one lets a user
(and the tests) check what a run logged before syncing it:

    python -m unseen.job.wandb_offline outputs/<date>/<time>/wandb/offline-run-*/run-*.wandb
"""

import struct
import time
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, HEADER = 32768, 7  # LevelDB log blocks; W&B's file starts with a 7-byte ':W&B' header too


def records(path: Path, wait: float = 30.0) -> list:
    """The file's records. wandb's finish() can return before its service has written the whole file, so
    wait up to ``wait`` seconds for the run's closing (exit) record."""
    deadline = time.monotonic() + wait
    while True:
        parsed = _parse(Path(path).read_bytes())
        if any(r.WhichOneof("record_type") == "exit" for r in parsed) or time.monotonic() > deadline:
            return parsed
        time.sleep(0.2)


class NotARunFile(ValueError):
    """The file is not (or no longer) a readable W&B run file."""


def _parse(data: bytes, complete: bool = False) -> list:
    """The records in ``data``; ``complete``: the file is finished, so a cut-off record is an error, not a
    record still being written."""
    if len(data) < HEADER:  # not written yet
        if complete:
            raise NotARunFile(f"{len(data)} bytes, shorter than a W&B run file's header")
        return []
    if data[:4] != b":W&B":
        raise NotARunFile("not a W&B run file (no ':W&B' header)")
    pos, pending, out = HEADER, b"", []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if pos + length > len(data):
            if complete:
                raise NotARunFile(f"truncated: a record at byte {pos - 7} runs past the end ({len(data)} bytes)")
            break  # being written
        chunk, pos = data[pos:pos + length], pos + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            out.append(pending + chunk)
            pending = b""
    from google.protobuf.message import DecodeError

    parsed = []
    for i, chunk in enumerate(out):
        record = pb.Record()
        try:
            record.ParseFromString(chunk)
        except DecodeError as err:
            raise NotARunFile(f"record {i} is damaged ({err})") from err
        parsed.append(record)
    return parsed


def history_keys(recs) -> dict:
    items = {}
    for r in recs:
        if r.WhichOneof("record_type") == "history":
            for item in r.history.item:
                items[item.key or "/".join(item.nested_key)] = item.value_json
    return items


def read_finished(path: Path) -> list:
    """The records of a run file the user points to: one line (NotARunFile, OSError) for a missing file, a
    folder, another kind of file, a truncated or damaged one. Waits for the closing record only while the file
    is still being written (changed in the last few seconds)."""
    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("**/run-*.wandb"))
        hint = f": it holds {found[0]}" if found else ""
        raise NotARunFile(f"{path} is a folder; give the run file (wandb/offline-run-*/run-*.wandb){hint}")
    if not path.is_file():
        raise NotARunFile(f"{path} does not exist; give a run file (wandb/offline-run-*/run-*.wandb)")
    fresh = time.time() - path.stat().st_mtime < 5
    recs = records(path, wait=10.0) if fresh else []
    recs = _parse(path.read_bytes(), complete=True)
    if not recs:
        raise NotARunFile(f"{path} holds no records (its header only): the run wrote nothing, or is still starting")
    return recs


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    try:
        recs = read_finished(args.file)
    except (NotARunFile, OSError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        print(f"error: {args.file}: {reason}" if not str(reason).startswith(str(args.file)) else f"error: {reason}",
              file=sys.stderr)
        sys.exit(2)
    for r in recs:
        if r.WhichOneof("record_type") == "run":
            print(f"run {r.run.run_id}  project {r.run.project}  group {r.run.run_group or '-'}")
            config = {i.key: json.loads(i.value_json) for i in r.run.config.update if not i.key.startswith("_")}
            print("config:", json.dumps(config, sort_keys=True))
    for key, value in sorted(history_keys(recs).items()):
        if not key.startswith("_"):
            print(f"{key} = {value[:100]}")


if __name__ == "__main__":
    main()
