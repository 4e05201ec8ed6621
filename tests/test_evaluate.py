import math

import pytest
import torch

from unseen.errors import UserError
from unseen.evaluate import (INCEPTION_FILE, cached_features, feature_network, fid_kid, inception_weights,
                             mean_pairwise_distance, memorisation)


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
    (tmp_path / "w.pth").write_bytes(b"")
    assert inception_weights(str(tmp_path / "w.pth")) == tmp_path / "w.pth"
