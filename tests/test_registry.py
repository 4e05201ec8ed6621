"""unseen.registry: a user's target kind, built-in model and feature network plug in as the worlds' do, and an
unknown name is one line naming what is known."""

from pathlib import Path

import pytest

from unseen import registry
from unseen.errors import UserError


@pytest.fixture
def clean(monkeypatch):
    for table in ("_TARGET_KINDS", "_TARGET_CHECKS", "_TARGET_SIZES", "_BUILTIN_MODELS", "_FEATURES"):
        monkeypatch.setattr(registry, table, dict(getattr(registry, table)))


def test_a_users_parts_plug_in_and_are_found(clean, tmp_path):
    loader, check, size, factory = (lambda *a, **k: "target"), (lambda t, c: None), (lambda t, c: 7), (lambda d: "net")
    registry.register_target_kind("my_dataset", loader, check)
    registry.register_target_size("my_dataset", size)
    registry.register_builtin_model("my_unet", tmp_path)
    registry.register_feature("my_net", factory)
    assert registry.target_loader("my_dataset") is loader and registry.target_check("my_dataset") is check
    assert registry.target_size("my_dataset")(None, None) == 7
    assert registry.builtin_model("my_unet") == Path(tmp_path) and registry.feature_factory("my_net") is factory
    assert "my_net" in registry.feature_names()


def test_unknown_names_say_what_is_known(clean):
    registry.register_target_kind("my_dataset", lambda *a, **k: None)
    with pytest.raises(UserError, match=r"target.kind 'nope' is not known; known kinds: folder, .*my_dataset"):
        registry.target_loader("nope")
    with pytest.raises(UserError, match=r"unknown built-in model 'nope'"):
        registry.builtin_model("nope")
    assert registry.target_check("nope") is None and registry.feature_factory("nope") is None
