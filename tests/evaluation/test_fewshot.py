"""The few-shot measures and the grain ratio, each against a second computation written out by hand."""

import itertools
import math

import pytest
import torch
from omegaconf import OmegaConf

from unseen.errors import UserError
from unseen.evaluation import fewshot, grain


def _brute(samples, refs, per_cluster):
    """Intra-cluster diversity and copies by loops: nearest reference by Python min, pairs by itertools."""
    d = lambda a, b: float(torch.dist(a.double(), b.double()))  # noqa: E731
    members = [[] for _ in refs]
    copies = 0
    for s in samples:
        dist = [d(s, r) for r in refs]
        k = dist.index(min(dist))
        gap = min(d(refs[k], r) for j, r in enumerate(refs) if j != k)
        copies += dist[k] < gap
        if len(members[k]) < per_cluster:
            members[k].append(s)
    each = [sum(d(a, b) for a, b in itertools.combinations(m, 2)) / math.comb(len(m), 2) if len(m) > 1 else None
            for m in members]
    per = [p for p in each if p is not None]
    mean = sum(per) / len(per)
    return mean, math.sqrt(sum((p - mean) ** 2 for p in per) / len(per)), copies / len(samples), each


def test_clusters_match_a_brute_force_count():
    g = torch.Generator().manual_seed(0)
    refs = torch.randn(5, 7, generator=g)
    samples = torch.cat([refs[torch.randint(5, (40,), generator=g)] + 0.6 * torch.randn(40, 7, generator=g),
                         refs[:3] + 1e-3])  # three near-copies
    c = fewshot.Clusters(refs, fewshot.euclidean, "feat", per_cluster=6)
    for chunk in samples.split(9):
        c.add(chunk)
    r = c.result()
    mean, std, copies, each = _brute(samples, refs, 6)
    assert r["intra_cluster_diversity"] == pytest.approx(mean, rel=1e-9)
    assert r["cluster_diversity"] == pytest.approx(each, rel=1e-9)
    assert r["intra_cluster_diversity_std"] == pytest.approx(std, rel=1e-9)
    assert r["copies"] == pytest.approx(copies) and r["copies"] >= 3 / 43
    assert sum(r["cluster_sizes"]) == 43 and r["num_samples"] == 43


def test_a_cluster_with_one_sample_is_left_out_by_reference():
    refs = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    c = fewshot.Clusters(refs, fewshot.euclidean, "f")
    c.add(torch.tensor([[0.0, 1.0], [0.0, -1.0], [10.0, 1.0]]))  # two by the first reference, one by the second
    r = c.result()
    assert r["cluster_diversity"] == [2.0, None, None] and r["clusters_scored"] == 1


def test_paired_difference_of_cluster_diversities():
    a = [3.0, 5.0, None, 9.0, 4.0]
    same = fewshot.paired_difference(a, a)
    assert same["mean"] == 0.0 and same["interval_95"] == [0.0, 0.0] and same["clusters"] == 4
    shifted = fewshot.paired_difference([x + 1.5 if x is not None else None for x in a], a)
    assert shifted["mean"] == pytest.approx(1.5) and shifted["interval_95"] == pytest.approx([1.5, 1.5])
    # differences 2, -2, -1, 1 (the cluster b did not score is skipped): the mean 0; the bootstrap's interval holds
    # it and lies within the smallest and largest difference
    r = fewshot.paired_difference([5.0, 3.0, 1.0, 10.0, 4.0], [3.0, 5.0, 2.0, 9.0, None])
    assert r["clusters"] == 4 and r["mean"] == 0.0
    low, high = r["interval_95"]
    assert -2.0 <= low < r["mean"] < high <= 2.0
    assert fewshot.paired_difference([1.0, None], [None, 2.0])["mean"] is None


def test_merged_shards_equal_one_run():
    g = torch.Generator().manual_seed(1)
    refs, samples = torch.randn(4, 3, generator=g), torch.randn(30, 3, generator=g)
    whole = fewshot.Clusters(refs, fewshot.euclidean, "f", per_cluster=3)
    whole.add(samples)
    parts = [fewshot.Clusters(refs, fewshot.euclidean, "f", per_cluster=3) for _ in range(2)]
    parts[0].add(samples[:13])
    parts[1].add(samples[13:])
    assert parts[0].merge([p.state() for p in parts]).result() == whole.result()


def test_grain_of_known_images():
    flat = torch.zeros(2, 3, 8, 8)
    assert grain.grain(flat).tolist() == [0.0, 0.0]
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None]) % 2 * 2.0 - 1  # +-1 alternating
    # every interior pixel: |4 x - 4 (-x)| = 8
    assert grain.grain(checker.expand(1, 3, 8, 8)).item() == pytest.approx(8.0)
    r = grain.grain_ratio(torch.tensor([2.0, 2.0, 2.0]), torch.tensor([1.0, 1.0]))
    assert r["ratio"] == 2.0 and r["interval_95"] == [2.0, 2.0] and "Laplacian" in r["definition"]


def test_grain_sees_speckle_that_a_smooth_image_lacks():
    g = torch.Generator().manual_seed(0)
    smooth = torch.linspace(-1, 1, 32).expand(16, 3, 32, 32).clone()
    speckled = (smooth + 0.1 * torch.randn(smooth.shape, generator=g)).clamp(-1, 1)
    r = grain.grain_ratio(grain.grain(speckled), grain.grain(smooth + 0.02 * torch.randn(smooth.shape, generator=g)))
    assert r["interval_95"][0] > 2


def _alexnet_file(path):
    import torchvision

    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def test_lpips_from_a_local_backbone(tmp_path):
    pairwise = fewshot.lpips_pairwise(_alexnet_file(tmp_path / fewshot.ALEXNET_FILE))
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(3, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    d = pairwise(a, b)
    assert d.shape == (3, 2) and (d > 0).all()
    assert torch.allclose(d, pairwise(b, a).T, atol=1e-6)
    assert pairwise(a, a).diagonal().abs().max() < 1e-6


def test_lpips_weights_checked_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    e = lambda **kw: OmegaConf.create({"lpips": False, "lpips_weights": None, **kw})  # noqa: E731
    assert fewshot.check_lpips(e()) is None
    assert fewshot.check_lpips(e(lpips=None)) is None  # auto: none found, feature space only
    with pytest.raises(UserError, match="alexnet-owt-7be5be79.pth.*eval.lpips=false"):
        fewshot.check_lpips(e(lpips=True))
    with pytest.raises(UserError, match=str(tmp_path / "nope.pth")):
        fewshot.check_lpips(e(lpips=None, lpips_weights=str(tmp_path / "nope.pth")))
    (tmp_path / "bad.pth").write_text("not weights")
    with pytest.raises(UserError, match="is not torchvision's AlexNet weights"):
        fewshot.lpips_pairwise(fewshot.check_lpips(e(lpips=True, lpips_weights=str(tmp_path / "bad.pth"))))
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    _alexnet_file(hub / fewshot.ALEXNET_FILE)
    assert fewshot.check_lpips(e(lpips=None)) == hub / fewshot.ALEXNET_FILE
