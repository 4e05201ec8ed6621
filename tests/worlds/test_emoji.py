"""The emoji world without the network: a package folder made here from 22 real emoji.json rows
(tests/fixtures/emoji_rows.json) and images drawn by the test."""

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import EMOJI_ROWS as ROWS
from tests.helpers import make_packages
from unseen.errors import UserError
from unseen.worlds.emoji import data
from unseen.worlds.emoji.plugin import load_emoji_target
from unseen.worlds.emoji.train import Batches

ROOT = Path(__file__).resolve().parents[2]
@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Path:
    return make_packages(tmp_path_factory.mktemp("emoji"))


def test_categories_of_real_rows():
    got = {r["short_name"]: data.category(r) for r in ROWS}
    assert got["grinning"] == got["confused"] == "faces"
    assert got["japanese_ogre"] is None  # face-costume is not a face target
    assert got["eye-in-speech-bubble"] is None and got["skin-tone-2"] is None
    assert got["love_letter"] == got["heartbeat"] == "hearts"
    assert got["flag-ac"] == "flags" and got["boy"] == "people"
    assert [got[n] for n in ("seedling", "hotdog", "school_satchel", "cyclone", "mahjong", "hash")] == \
        ["animals", "food", "objects", "travel", "activities", "symbols"]


def test_items_and_images(packages):
    folders = data.folders(None, packages)
    faces = data.items(folders, ("faces",))
    assert len(faces) == 2 * 5 and {it.vendor for it in faces} == {"google", "twitter"}
    base = data.items(folders, tuple(data.BASE_CLASSES.values()))
    assert len(base) == 2 * 7 and not {it.cls for it in base} & set(data.TARGETS)
    arr = data.read(folders, faces[:1], 32)
    assert arr.shape == (1, 32, 32, 3) and arr.dtype == np.uint8
    assert (arr[0, 0, 0] == 255).all()  # transparent corner composited on white, not black


def test_target_split(packages):
    t = load_emoji_target(4, 32, path=str(packages), category="faces", num_eval=None, seed=3)
    assert t.images.shape == (4, 3, 32, 32) and len(t.eval_ids) == 6  # every other face
    assert not set(t.ids) & set(t.eval_ids) and t.domain == "faces"
    again = load_emoji_target(4, 32, path=str(packages), category="faces", num_eval=2, seed=3)
    assert again.ids == t.ids and len(again.eval_ids) == 2  # the references do not depend on num_eval
    assert any(load_emoji_target(4, 32, path=str(packages), category="faces", seed=s).ids != t.ids for s in (4, 5, 6))
    # by identity: both vendors' drawings of an emoji on one side, so no held-out image is a reference's twin
    assert not set(t.ref_groups) & set(t.eval_groups) and len(set(t.ref_groups)) == 2
    assert t.split()["identities"]["references"] == sorted(set(t.ref_groups))
    odd = load_emoji_target(3, 32, path=str(packages), category="faces", num_eval=None, seed=3)
    assert len(odd.ids) == 3 and len(odd.left_out) == 1 and odd.left_out[0].split("/")[1] in odd.ref_groups
    assert torch.equal(t.images, load_emoji_target(4, 32, path=str(packages), category="faces", seed=3).images)


@pytest.mark.parametrize("kwargs,message", [
    ({"category": "cats"}, "target.category must be one of faces, flags"),
    ({"category": None}, "target.category must be one of"),
    ({"category": "faces", "domain": "disks"}, "target.domain is for the tiny world"),
    ({"category": "hearts", "num_eval": 1}, "holds only 4 images"),
])
def test_target_errors(packages, kwargs, message):
    with pytest.raises(UserError, match=message):
        load_emoji_target(4, 32, path=str(packages), **kwargs)


def test_too_large_resolution(packages):
    with pytest.raises(UserError, match="at most 64 px"):
        load_emoji_target(4, 128, path=str(packages), category="faces")


def _tgz(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname="package")
    return dest


def test_tarball_checked_by_sha256(packages, tmp_path):
    name = data.PACKAGES["google"][0]
    _tgz(packages / name / "package", tmp_path / f"{name}-{data.VERSION}.tgz")
    with pytest.raises(UserError, match="sha256 differs"):
        data.package("google", tmp_path / "cache", tmp_path)


def test_tarball_unpacked_into_cache(packages, tmp_path, monkeypatch):
    name = data.PACKAGES["twitter"][0]
    tgz = _tgz(packages / name / "package", tmp_path / f"{name}-{data.VERSION}.tgz")
    monkeypatch.setitem(data.PACKAGES, "twitter", (name, data.sha256(tgz)))
    folder = data.package("twitter", tmp_path / "cache", tmp_path)
    assert folder == tmp_path / "cache" / "emoji" / f"{name}-{data.VERSION}" / "package"
    assert (folder / "emoji.json").is_file() and len(list((folder / "img" / "twitter" / "64").iterdir())) == 22
    assert data.package("twitter", tmp_path / "cache") == folder  # found in the cache next time, no npm


def test_a_tarball_without_a_cache_is_one_clear_error(packages, tmp_path):
    name = data.PACKAGES["google"][0]
    _tgz(packages / name / "package", tmp_path / f"{name}-{data.VERSION}.tgz")
    with pytest.raises(UserError, match="cache_dir is null.*tar xzf"):
        data.package("google", None, tmp_path)


def test_no_npm_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data.shutil, "which", lambda _: None)
    with pytest.raises(UserError, match="npm is not installed.*target.path"):
        data.package("google", tmp_path)


def test_registry_unreachable_is_one_clear_error(tmp_path, monkeypatch):
    def failing(*a, **k):
        return subprocess.CompletedProcess(a, 1, "", "npm error code E404\nnpm error 404 Not Found")
    monkeypatch.setattr(data.shutil, "which", lambda _: "/usr/bin/npm")
    monkeypatch.setattr(data.subprocess, "run", failing)
    with pytest.raises(UserError, match=r"npm pack emoji-datasource-google@16.0.0 failed \(npm error 404 Not Found\)"):
        data.package("google", tmp_path)
    assert not list((tmp_path / "emoji").iterdir())  # nothing half-fetched left behind


def test_path_without_packages(tmp_path):
    with pytest.raises(UserError, match="holds neither"):
        data.package("google", None, tmp_path)


def test_training_batches_are_a_function_of_the_step():
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    a, b = Batches(images, 4, seed=1), Batches(images, 4, seed=1)
    assert torch.equal(a(7), b(7)) and not torch.equal(a(7), a(8))
    # one epoch of batches 0..4 (20 draws, 10 images) shows every image twice, flipped or not
    flat = torch.cat([a(k) for k in range(5)])
    src = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    seen = [min(int((x - s).abs().sum() < 1e-6) + int((x - s.flip(-1)).abs().sum() < 1e-6), 1)
            for x in flat for s in src]
    assert sum(seen) >= 20


def test_config_chooses_the_worlds_eval():
    from unseen.job.config import compose

    assert compose(["target=emoji"]).eval.feature == "emoji"
    assert compose(["target=emoji", "eval=unet"]).eval.feature == "unet"  # the command line wins
    assert compose([]).eval.feature == "domain"
    cfg = compose(["model=emoji_ddpm", "target=emoji", "target.category=flags", "experiment=fewshot"])
    assert (cfg.target.num_references, cfg.target.num_eval, cfg.sampler.count) == (10, None, 5000)
    assert cfg.target.category == "flags" and cfg.eval.lpips is None


def test_the_world_chooses_t_M_unless_told_or_sampling_from_noise():
    from tests.helpers import make_cfg

    cfg = make_cfg(["target=emoji"], small=False)
    assert cfg.auto.enabled and list(cfg.auto.t_M) == [300, 400, 500] and list(cfg.auto.candidates) == ["collage"]
    assert not make_cfg(["target=emoji", "auto.enabled=false"], small=False).auto.enabled
    full = make_cfg(["target=emoji", "experiment=auto"], small=False)  # the preset widens it
    assert list(full.auto.t_M) == [100, 200, 300, 400, 500] and len(full.auto.candidates) == 6
    assert not make_cfg(["target=smileys"], small=False).auto.enabled


def test_run_on_a_made_package(packages, tmp_path):
    """The whole job on the made package (tiny_ddpm: the test must not need emoji_ddpm's training), unet
    features: the world's t_M chosen from the references (auto's stage with the collage only), the few-shot
    section, the grain ratio and split.json's references are written."""
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, str(ROOT / "run.py"), "target=emoji", f"target.path={packages}",
                           "target.num_references=6", "target.category=faces", "eval=unet", "sampler.count=8",
                           "auto.count=4", "mixing.reconstruct=0", "logger=none", "progress=false",
                           f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={out}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    split = json.loads((out / "split.json").read_text())
    assert len(split["references"]) == 6 and all(r.split("/")[0] in data.VENDORS for r in split["references"])
    assert m["fid_kid"]["num_real"] == 4 and m["fewshot"]["feature"]["num_clusters"] == 6
    assert m["grain"]["num_held_out"] == 4 and m["grain"]["num_samples"] == 8
    assert [(c["candidate"], c["t_M"]) for c in m["auto"]["candidates"]] == [("collage", t) for t in (300, 400, 500)]
    assert m["t_M"] == m["auto"]["chosen"]["t_M"] and m["source"] == "collage"


def test_the_worlds_feature_network_is_its_classifiers_penultimate_layer():
    from unseen.worlds.emoji.classifier import load
    from unseen.worlds.emoji.plugin import category_rates, emoji_features

    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    net = emoji_features(torch.device("cpu"))
    assert net.name == "emoji" and net.resolution == 32
    assert torch.allclose(net(images), load().features(images).double())
    rates = category_rates(images)
    assert set(rates) == set(data.CLASSES) and abs(sum(rates.values()) - 1) < 1e-9


def test_a_warm_start_begins_from_the_given_models_weights(tmp_path):
    """--init: the run's UNet (and its EMA) start from the model folder's weights. At lr 0 one step leaves them
    there, so the run's EMA model is the initial one exactly; without --init it is a fresh random UNet."""
    from diffusers import UNet2DModel

    from unseen.worlds.tiny import assets as tiny_assets
    from unseen.worlds.tiny import train_ddpm

    def one_step(out: Path, init) -> dict:
        args = __import__("argparse").Namespace(out=out, steps=1, batch=2, lr=0.0, warmup=1, ema_decay=0.999,
                                                high_t_fraction=0.3, seed=0, log_every=1, ckpt_every=1, width=32,
                                                init=init)
        train_ddpm.train(args, data=lambda k: torch.zeros(2, 3, 32, 32))
        return UNet2DModel.from_pretrained(out / "ema" / "unet").state_dict()

    init = UNet2DModel.from_pretrained(tiny_assets.TINY_DDPM / "unet").state_dict()
    warm, cold = one_step(tmp_path / "warm", str(tiny_assets.TINY_DDPM)), one_step(tmp_path / "cold", None)
    assert all(torch.equal(warm[k], init[k]) for k in init)
    assert not all(torch.equal(cold[k], init[k]) for k in init)


def test_export_of_a_warm_start_keeps_what_the_starting_weights_had_been_through(tmp_path, monkeypatch):
    """The package's train_stats.json says the whole training: a warm start's run knows only its own steps, so
    export nests the starting model's step and settings, read before the package (often that model) is replaced."""
    from unseen.worlds.emoji import assets as emoji_assets
    from unseen.worlds.emoji import train

    package = tmp_path / "package"
    package.mkdir()
    (package / "train_stats.json").write_text(json.dumps({"step": 3000, "training": {"steps": 3000, "lr": 4e-4}}))
    run = tmp_path / "run"
    (run / "ema").mkdir(parents=True)
    (run / "ema" / "train_stats.json").write_text(json.dumps(
        {"step": 6000, "training": {"steps": 6000, "lr": 2e-4, "init": str(package)}}))
    monkeypatch.setattr(emoji_assets, "EMOJI_DDPM", package)
    train.export(run)
    stats = json.loads((package / "train_stats.json").read_text())
    assert stats["step"] == 6000 and stats["training"]["lr"] == 2e-4
    assert stats["training"]["warm_start_from"] == {"step": 3000, "training": {"steps": 3000, "lr": 4e-4}}


def test_a_re_export_nests_the_starting_model_as_it_was_when_the_run_began(tmp_path, monkeypatch):
    """Exported once, the package is this run's model: a second export must still nest the 3,000-step start (taken
    when the run began), not the package's 6,000-step self."""
    from unseen.worlds.emoji import assets as emoji_assets
    from unseen.worlds.emoji import train

    package, run = tmp_path / "package", tmp_path / "run"
    package.mkdir()
    (run / "ema").mkdir(parents=True)
    (package / "train_stats.json").write_text(json.dumps({"step": 3000, "training": {"steps": 3000}}))
    train.snapshot_init(run, str(package))
    (run / "ema" / "train_stats.json").write_text(json.dumps(
        {"step": 6000, "training": {"steps": 6000, "init": str(package)}}))
    monkeypatch.setattr(emoji_assets, "EMOJI_DDPM", package)
    train.export(run)
    train.export(run)
    stats = json.loads((package / "train_stats.json").read_text())
    assert stats["step"] == 6000 and stats["training"]["warm_start_from"] == {"step": 3000,
                                                                             "training": {"steps": 3000}}


def test_tarball_unpacks_on_a_python_without_the_tarfile_filter(packages, tmp_path, monkeypatch):
    """Debian 12's Python 3.11.2 has no ``filter=`` (3.11.4): extractall rejects the keyword, as there."""
    import importlib
    import tarfile

    original = tarfile.TarFile.extractall

    def old_extractall(self, path=".", members=None, *, numeric_owner=False, **kwargs):
        if kwargs:
            raise TypeError(f"TarFile.extractall() got an unexpected keyword argument {next(iter(kwargs))!r}")
        return original(self, path, members, numeric_owner=numeric_owner)

    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # absent already on 3.11.2
    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    fresh = importlib.reload(data)  # the module decides at import, as it would on that Python
    try:
        name = fresh.PACKAGES["twitter"][0]
        tgz = _tgz(packages / name / "package", tmp_path / f"{name}-{fresh.VERSION}.tgz")
        monkeypatch.setitem(fresh.PACKAGES, "twitter", (name, fresh.sha256(tgz)))
        folder = fresh.package("twitter", tmp_path / "cache", tmp_path)
        assert len(list((folder / "img" / "twitter" / "64").iterdir())) == 22
    finally:
        monkeypatch.undo()
        importlib.reload(data)
