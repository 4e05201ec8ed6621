"""Read an offline W&B run file (run-*.wandb: LevelDB's log format of W&B protobuf records).

wandb 0.31 ships no reader for offline runs (`wandb sync --view` is gone), so this one lets a user
(and the tests) check what a run logged before syncing it:

    python -m unseen.wandb_offline outputs/<date>/<time>/wandb/offline-run-*/run-*.wandb
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


def _parse(data: bytes) -> list:
    if len(data) < HEADER:  # not written yet
        return []
    if data[:4] != b":W&B":
        raise ValueError("not a W&B run file (no ':W&B' header)")
    pos, pending, out = HEADER, b"", []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
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
    parsed = []
    for chunk in out:
        record = pb.Record()
        record.ParseFromString(chunk)
        parsed.append(record)
    return parsed


def history_keys(recs) -> dict:
    items = {}
    for r in recs:
        if r.WhichOneof("record_type") == "history":
            for item in r.history.item:
                items[item.key or "/".join(item.nested_key)] = item.value_json
    return items


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    recs = records(args.file)
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
