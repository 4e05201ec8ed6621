"""The sources that join references (collage, hybrid) through the whole run: as many samples as asked, the same
latents for the same seed and others for another, and exactly one UNet evaluation per sample per generation step
(the joining itself costs none)."""

import pytest
from safetensors.torch import load_file

from tests.helpers import SMALL
from unseen.job.api import run

FAST = [*SMALL, "mixing.reconstruct=0", "eval=none"]


@pytest.mark.parametrize("source", [["sampler=collage", "sampler.collage_parts=3"], ["sampler=hybrid"]])
def test_a_joining_source_is_seeded_counted_and_costs_one_evaluation_a_step(source, tmp_path):
    def once(name, *extra):
        r = run(*FAST, *source, *extra, "cache_dir=null", output_dir=tmp_path / name)
        return r.metrics, load_file(str(r.dir / "latents.safetensors")), r.dir

    m, z, folder = once("a")
    _, again, _ = once("b")
    _, other, _ = once("c", "seed=1")
    samples = [k for k in z if "sample" in k]
    assert samples and all(z[k].shape[0] == 8 for k in samples)
    assert len(list((folder / "samples").glob("*.png"))) == 8
    assert all((z[k] == again[k]).all() for k in z)  # same seed: bit for bit
    assert any(not (z[k] == other[k]).all() for k in samples)  # another seed: other pairs and masks
    # as the prior's draws cost: one evaluation per sample per point of the generation grid
    assert m["unet_evaluations"]["generate"] == 8 * m["generation_steps"]
    assert "draw" not in m["unet_evaluations"] or m["unet_evaluations"]["draw"] == 0
