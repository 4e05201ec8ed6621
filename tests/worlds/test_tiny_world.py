"""The shipped tiny-world models: they load offline and meet their bars."""

import json

import pytest

from unseen.images import psnr
from unseen.method import ddim
from unseen.models.loading import load_model
from unseen.worlds.tiny import assets
from unseen.worlds.tiny.classifier import held_out_accuracy, load_classifier
from unseen.worlds.tiny.domains import DOMAINS, sample
from unseen.worlds.tiny.measure_model import own_samples


@pytest.fixture(scope="module")
def classifier():
    return load_classifier()


@pytest.fixture(scope="module")
def predictor():
    model = load_model("builtin:tiny_ddpm")
    return ddim.NoisePredictor(model.unet, model.alphas_cumprod, batch_size=64)


def test_classifier_is_accurate_on_fresh_held_out_draws(classifier):
    # seed 3: neither the training stream (1) nor the held-out stream its JSON reports (2)
    accuracy = held_out_accuracy(classifier, per_class=100, seed=3)
    assert set(accuracy) == set(DOMAINS)
    assert min(accuracy.values()) >= 0.95, accuracy
    feats = classifier.features(sample("smileys", 4))
    assert feats.shape == (4, classifier.feature_dim)


def test_shipped_models_record_their_numbers():
    stats = json.loads((assets.TINY_DDPM / "train_stats.json").read_text())
    assert stats["own_samples"]["domain_rates"]["disks"] >= 0.9
    cls = json.loads((assets.CLASSIFIER / "train_stats.json").read_text())
    assert min(cls["held_out_accuracy"].values()) >= 0.95


def test_the_ddpm_loads_offline_as_a_diffusers_model():
    model = load_model("builtin:tiny_ddpm")
    assert model.resolution == 32 and model.channels == 3 and len(model.alphas_cumprod) == 1000
    betas = 1 - model.alphas_cumprod[1:] / model.alphas_cumprod[:-1]
    assert betas[0].item() == pytest.approx(1e-4 + (0.02 - 1e-4) / 999, rel=1e-3)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-3)


@pytest.mark.slow  # 200 samples from pure noise; the studies' own-samples rows check the same: `make test-slow`
def test_own_samples_are_disks(predictor, classifier):
    rates = classifier.domain_rates(own_samples(predictor, 48, seed=123))
    assert rates["disks"] >= 0.9, rates


@pytest.mark.parametrize("domain", ["squares", "stripes", "letters"])
def test_reconstruction_of_unseen_domains(predictor, domain):
    """Invert to t = 500 and back, 50 steps each way: the paper's first claim at 32 px."""
    images = sample(domain, 8, seed=9)
    grid = ddim.time_grid(500, 50)
    recon = ddim.generate(predictor, ddim.invert(predictor, images, grid)[-1], grid)
    assert psnr(recon, images).mean() >= 35
