"""Drawn latents on disk: appended, read back by range, and saved as a safetensors file that the library reads."""

import torch
from safetensors.torch import load_file

from unseen.job.latents import LatentFile, save_streamed
from unseen.method.sources import noise_latents, slerp_latents


def test_append_read_and_save_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(10, 3, 4, 4, generator=g)
    lf = LatentFile(tmp_path / "z.f32", (3, 4, 4))
    for part in z.split(3):
        lf.append(part)
    assert lf.count == 10 and torch.equal(lf.read(2, 7), z[2:7])
    assert torch.equal(torch.cat(list(lf.chunks(4))), z)
    refs = torch.randn(5, 3, 4, 4, generator=g).double()  # saved as float32, like every latent
    save_streamed(tmp_path / "latents.safetensors", {"references": refs}, {"samples": lf})
    back = load_file(tmp_path / "latents.safetensors")
    assert torch.equal(back["samples"], z) and torch.equal(back["references"], refs.float())


def test_a_file_holding_a_later_range(tmp_path):
    z = torch.arange(2 * 8, dtype=torch.float32).reshape(8, 2)
    lf = LatentFile(tmp_path / "z.f32", (2,), first=4)
    lf.append(z[4:])
    assert torch.equal(lf.read(5, 8), z[5:8])


def test_chunked_sources_give_the_same_values():
    refs = torch.randn(6, 12, generator=torch.Generator().manual_seed(1))
    assert torch.equal(torch.cat(list(noise_latents(10, 12, seed=3, chunk=4))), noise_latents(10, 12, seed=3))
    assert torch.equal(torch.cat(list(slerp_latents(refs, 10, seed=3, chunk=4))), slerp_latents(refs, 10, seed=3))
