"""unseen.job.stages: the pieces the orchestrator composes. A rank keeps exactly its share of the drawn latents
(RangeSink), and the samples' PNGs are named by their index in the whole run (output.sample_writer)."""

import numpy as np
import pytest
import torch
from PIL import Image

from unseen.job.latents import LatentFile
from unseen.job.output import sample_writer
from unseen.job.stages import RangeSink


def test_a_rank_keeps_exactly_its_range_of_the_stream(tmp_path):
    latents = LatentFile(tmp_path / "mine.f32", (2,), 5)
    sink = RangeSink(latents, 5, 12)
    stream = torch.arange(40, dtype=torch.float32).reshape(20, 2)
    for a, b in ((0, 3), (3, 7), (7, 8), (8, 15), (15, 20)):  # chunks that straddle both ends of the range
        sink(stream[a:b])
    assert torch.equal(latents.read(5, 12), stream[5:12])


def test_samples_are_named_by_their_index_in_the_run(tmp_path):
    images = torch.linspace(-1, 1, 2 * 3 * 4 * 4).reshape(2, 3, 4, 4)
    with sample_writer(tmp_path) as write:
        write(images, 64)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["00064.png", "00065.png"]
    got = np.asarray(Image.open(tmp_path / "00065.png"))
    assert got.shape == (4, 4, 3) and got[0, 0, 0] > 100  # the second image: the upper half of the ramp


def test_a_failed_write_fails_the_stage(tmp_path):
    with pytest.raises(OSError):
        with sample_writer(tmp_path / "missing") as write:
            write(torch.zeros(1, 3, 4, 4), 0)
