import math

import pytest
import torch

from unseen.errors import UserError
from unseen.evaluation.distances import mean_pairwise_distance, memorisation
from unseen.evaluation.features import INCEPTION_FILE, cached_features, feature_network, inception_weights
from unseen.evaluation.fid import fid_kid


def test_fid_matches_the_closed_form_for_gaussians():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(4000, 8, generator=g, dtype=torch.float64)
    fake = torch.randn(4000, 8, generator=g, dtype=torch.float64) * 2 + 1
    # FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) = 8 * 1 + 8 * (1 + 4 - 4) = 16
    scores = fid_kid(real, fake, kid_subset=200, kid_subsets=20)
    assert scores["fid"] == pytest.approx(16, rel=0.08)
    same = fid_kid(real[:2000], real[2000:], kid_subset=200, kid_subsets=20)
    assert same["fid"] < 0.1 and abs(same["kid"]) < 3 * same["kid_std"] + 1e-3 and scores["kid"] > 0.5


def test_kid_subset_adapts_to_few_samples_with_a_warning():
    with pytest.warns(UserWarning, match="KID subset size lowered from 100 to 12"):
        out = fid_kid(torch.randn(50, 4), torch.randn(12, 4), kid_subset=100)
    assert out["kid_subset_size"] == 12 and out["num_fake"] == 12


def test_memorisation_and_diversity():
    refs = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])  # nearest-neighbour distances 3, 3, 4
    copies = memorisation(refs.clone(), refs)
    assert copies["mean_ratio"] == 0 and copies["fraction_below_0.5"] == 1
    far = memorisation(torch.tensor([[10 / 3, 10.0]]), refs)
    assert far["reference_nn_distance"] == pytest.approx(10 / 3)
    assert far["mean_ratio"] == pytest.approx(math.dist((10 / 3, 10), (0, 4)) / (10 / 3))
    assert mean_pairwise_distance(refs) == pytest.approx((3 + 4 + 5) / 3)


def test_features_of_an_image_set_are_cached(tmp_path):
    from unseen.job.api import wire

    wire()
    net = feature_network("domain", torch.device("cpu"))
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    first = cached_features(net, images, [str(i) for i in range(6)], tmp_path)
    files = list((tmp_path / "features").glob("domain-*.pt"))
    assert len(files) == 1 and first.shape == (6, 128)
    torch.save(first * 0 + 7, files[0])  # a planted value proves the second call reads the file
    assert (cached_features(net, images, [str(i) for i in range(6)], tmp_path) == 7).all()
    other = cached_features(net, images, [str(i) for i in range(1, 7)], tmp_path)
    torch.testing.assert_close(other, first)


def test_missing_inception_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError, match=f"{INCEPTION_FILE}.*eval.inception_weights"):
        inception_weights(None)
    (tmp_path / "w.pth").write_bytes(b"")  # an empty, text or foreign file is named, not loaded later
    with pytest.raises(UserError, match="is not torch-fidelity's InceptionV3 weights file"):
        inception_weights(str(tmp_path / "w.pth"))
    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="is not torch-fidelity's InceptionV3 weights file"):
        inception_weights(str(tmp_path / "other.pt"))
    torch.save({"Mixed_7c.branch1x1.conv.weight": torch.zeros(2)}, tmp_path / "w.pth")
    assert inception_weights(str(tmp_path / "w.pth")) == tmp_path / "w.pth"


def test_chunked_distances_equal_the_full_matrix(monkeypatch):
    import unseen.evaluation.distances as ev

    g = torch.Generator().manual_seed(0)
    a, r = torch.randn(50, 7, generator=g), torch.randn(30, 7, generator=g)
    full = memorisation(a, r), mean_pairwise_distance(a)
    monkeypatch.setattr(ev, "CHUNK", 8)  # many blocks, a ragged last one
    chunked = memorisation(a, r), mean_pairwise_distance(a)
    assert chunked[0] == pytest.approx(full[0], rel=1e-9) and chunked[1] == pytest.approx(full[1], rel=1e-9)
    d = torch.cdist(a.double(), a.double())
    assert chunked[1] == pytest.approx(float(d.sum() / (50 * 49)), rel=1e-9)


def test_held_out_files_are_read_in_batches_and_cached_by_fingerprint(tmp_path):
    import numpy as np
    from PIL import Image

    from unseen.data import ImageFiles

    files = []
    for i in range(5):
        files.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((40, 36, 3), 40 * i, np.uint8)).save(files[-1])
    lazy = ImageFiles(files, 32)
    assert [len(b) for b in lazy.batches(2)] == [2, 2, 1]
    net = feature_network("unet", torch.device("cpu"), unet=_small_unet(), model_identity="m")
    first = cached_features(net, lazy, [str(f) for f in files], tmp_path / "c")
    assert first.shape == (5, 32)
    torch.testing.assert_close(first, net(torch.cat(list(lazy.batches(5)))))
    Image.fromarray(np.zeros((40, 36, 3), np.uint8)).save(files[0])  # a changed file is a new key
    import os
    os.utime(files[0], ns=(1, 1))
    assert len(list((tmp_path / "c" / "features").iterdir())) == 1
    cached_features(net, ImageFiles(files, 32), [str(f) for f in files], tmp_path / "c")
    assert len(list((tmp_path / "c" / "features").iterdir())) == 2


def _small_unet():
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=32, block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D")).eval()


def test_wilson_interval_matches_published_values():
    from unseen.evaluation.intervals import wilson_interval

    # Newcombe (1998), table I: 0/10 -> 0 to 0.2775; 81/263 -> 0.2553 to 0.3662
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_interval(128, 128)[1] == pytest.approx(1.0) and wilson_interval(128, 128)[0] == pytest.approx(0.9709, abs=1e-4)


def test_precision_and_recall_tell_fidelity_from_coverage():
    from unseen.evaluation.distances import precision_recall

    g = torch.Generator().manual_seed(0)
    real = torch.randn(400, 2, generator=g, dtype=torch.float64)
    collapsed = 0.1 * torch.randn(400, 2, generator=g, dtype=torch.float64)  # faithful but narrow
    off = torch.randn(400, 2, generator=g, dtype=torch.float64) + 6.0  # varied but off the data
    same = torch.randn(400, 2, generator=g, dtype=torch.float64)
    c, o, s = precision_recall(real, collapsed), precision_recall(real, off), precision_recall(real, same)
    assert c["precision"] > 0.95 and c["recall"] < 0.2
    assert o["precision"] < 0.05 and o["recall"] < 0.05
    assert s["precision"] > 0.85 and s["recall"] > 0.85
    # hand-made: reals at 0 and 10 (k = 1: each ball's radius is 10); a fake at 25 lies in neither ball
    tiny = precision_recall(torch.tensor([[0.0], [10.0]]), torch.tensor([[5.0], [25.0]]), k=1)
    assert tiny["precision"] == 0.5 and tiny["recall"] == 1.0  # fakes' radius 20 covers both reals


def test_feature_memorisation_flags_copies_only():
    from unseen.evaluation.distances import feature_memorisation

    refs = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    out = feature_memorisation(torch.cat([refs, refs + 10]), refs, held_features=refs + 0.1)
    assert out["fraction_below_0.5"] == 0.5 and out["held_out_fraction_below_0.5"] == 1.0
