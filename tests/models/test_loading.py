import time

import pytest
import torch

from unseen.errors import UserError
from unseen.models.loading import load_model


def test_an_uncached_hub_model_fails_at_once_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    start = time.perf_counter()
    with pytest.raises(UserError, match="not in the Hugging Face cache and the hub is unreachable.*model.pretrained"):
        load_model("google/ddpm-celebahq-256")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("source,match", [("builtin:huge", "unknown built-in model"),
                                          ("./no/such/folder", "neither an existing folder nor a hub id")])
def test_bad_sources_are_named(source, match):
    with pytest.raises(UserError, match=match):
        load_model(source)


def test_a_local_folder_without_a_unet_is_named(tmp_path):
    with pytest.raises(UserError, match="could not load a diffusers UNet2DModel"):
        load_model(str(tmp_path))


def test_model_identity_follows_the_weights(tmp_path):
    import shutil

    from unseen.worlds.tiny import assets

    copy = tmp_path / "copy"
    shutil.copytree(assets.TINY_DDPM, copy)
    a = load_model(str(copy))
    assert a.identity == load_model(str(copy)).identity
    unet = a.unet
    unet.conv_out.bias.data += 1e-3
    unet.save_pretrained(copy / "unet")
    assert load_model(str(copy)).identity != a.identity


def test_the_model_identity_does_not_depend_on_torchs_thread_count():
    """The inversion cache is keyed by it: the same weights must name the same cache under any thread count."""
    from unseen.models.loading import _identity
    from unseen.worlds.tiny.train_ddpm import make_unet

    torch.manual_seed(0)
    unet, before = make_unet(), torch.get_num_threads()
    try:
        ids = set()
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            ids.add(_identity("x", unet, None))
    finally:
        torch.set_num_threads(before)
    assert len(ids) == 1
    with torch.no_grad():
        next(unet.parameters()).view(-1)[0] += 1e-3
    assert _identity("x", unet, None) not in ids
