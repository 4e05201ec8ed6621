"""scripts/bit_identical.py: its digest sees a changed sample or metric, and not a timing, provenance or place."""

import json
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import bit_identical  # noqa: E402


def _run_folder(root: Path, pixel: int = 0, fid: float = 12.5, seconds: float = 3.0) -> Path:
    (root / "samples").mkdir(parents=True)
    Image.new("RGB", (4, 4), (pixel, 0, 0)).save(root / "samples" / "00000.png")
    metrics = {"fid_kid": {"fid": fid}, "seconds": {"invert": seconds}, "total_seconds": seconds,
               "provenance": {"git": str(root)}, "model_identity": str(root), "inversion": {"key": str(root)}}
    (root / "metrics.json").write_text(json.dumps(metrics))
    return root


def test_the_digest_sees_samples_and_scores_not_timings_or_places(tmp_path):
    base = bit_identical.digest(_run_folder(tmp_path / "a"))
    assert bit_identical.digest(_run_folder(tmp_path / "b", seconds=99.0)) == base  # elsewhere, slower
    pixel = bit_identical.digest(_run_folder(tmp_path / "c", pixel=1))
    assert bit_identical.moved({"x": base}, {"x": pixel}) == ["x: samples"]
    fid = bit_identical.digest(_run_folder(tmp_path / "d", fid=12.5001))
    assert bit_identical.moved({"x": base}, {"x": fid}) == ["x: metrics (fid_kid.fid)"]
    # the last bits of a score (a loaded machine's BLAS threads) are not a change of the code's behaviour
    assert bit_identical.moved({"x": base}, {"x": bit_identical.digest(_run_folder(tmp_path / "e",
                                                                                   fid=12.5 * (1 + 1e-13)))}) == []


def test_the_recorded_baseline_names_every_config():
    recorded = json.loads((ROOT / "scripts" / "bit_identical.json").read_text())
    assert set(recorded) == set(bit_identical.CONFIGS)
    assert all("samples" in v and v["metrics"] for v in recorded.values())
