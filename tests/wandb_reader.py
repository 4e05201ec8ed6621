"""Reads the records of an offline W&B run file (run-*.wandb): LevelDB's log format of W&B protobufs.

wandb 0.31 ships no reader of its own for offline files, so the tests read them with this."""

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, HEADER = 32768, 7  # LevelDB log blocks; W&B's file starts with a 7-byte ':W&B' header too


def records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
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
