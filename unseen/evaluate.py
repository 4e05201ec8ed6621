"""Scores of generated samples against HELD-OUT target images (never the K references).

* FID and KID (torchmetrics) in the space of a feature network: InceptionV3 with torch-fidelity's
  FID weights (from a local file: they are a download), or the tiny world's domain classifier
  (its penultimate layer; offline);
* diversity: mean pairwise distance among samples, in feature and in pixel space;
* memorisation: each sample's distance to its nearest reference divided by the references' own
  mean nearest-neighbour distance; the mean and the fraction below 0.5. In pixel space, in the
  feature network's space and in the UNet's middle-block space (any model has one), because a
  shifted or recoloured copy is far in pixels but near in features;
* the diversity ratio: samples' mean pairwise distance over the held-out images' (1 = as varied as
  the domain; a prior that returns the mean image scores ~0);
* improved precision and recall (Kynkaanniemi et al. 2019, k = 3) in the FID feature space:
  fidelity (samples inside the real images' k-NN balls) and coverage of the domain (held-out
  images inside the samples' balls) told apart;
* the target rate of a domain judge with its Wilson 95% interval.

Every metric is reported with the sample counts it used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from unseen import redraw, registry, timing
from unseen.data import batches
from unseen.errors import UserError
from unseen.intervals import wilson_interval  # noqa: F401 - callers read it from here too
from unseen.spectrum import band_energy

log = logging.getLogger(__name__)

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"  # torch-fidelity's FID InceptionV3 weights
INCEPTION_URL = f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"


class FeatureNetwork(nn.Module):
    """A feature network for FID/KID, diversity and memorisation: images in [-1, 1] -> (N, num_features).

    ``to_input`` adapts the images to what ``net`` expects; ``resolution``, where set, is the only image
    size the network is meant for (a plug-in's classifier trained at one size).
    """

    def __init__(self, net: nn.Module, num_features: int, name: str, to_input=lambda x: x,
                 resolution: int | None = None):
        super().__init__()
        self.net, self.num_features, self.name, self._to_input = net.eval(), num_features, name, to_input
        self.resolution = resolution

    @torch.no_grad()
    def forward(self, images, batch_size: int = 64) -> torch.Tensor:
        """Features of a tensor of images or of an ``ImageFiles`` set, batch by batch: only the features stay."""
        device = next(self.net.parameters()).device
        return torch.cat([self.net(self._to_input(chunk.to(device))).double().cpu()
                          for chunk in batches(images, batch_size)])


def inception_weights(path: str | None) -> Path:
    """The local InceptionV3 weights file, or a clear error naming it and where to put it."""
    candidates = [Path(path).expanduser()] if path else []
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"
    candidates.append(hub / INCEPTION_FILE)
    for c in candidates:
        if c.is_file():
            _check_inception_file(c)
            return c
    raise UserError(f"FID with InceptionV3 needs torch-fidelity's weights file {INCEPTION_FILE}, not found at "
                    f"{' or '.join(str(c) for c in candidates)}: download {INCEPTION_URL} there (or set "
                    f"eval.inception_weights=/path/to/{INCEPTION_FILE}), or use eval.feature=domain on the tiny world")


def _check_inception_file(path: Path) -> None:
    """The file holds InceptionV3 weights (torch-fidelity's state dict), not text or another network's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        ok = isinstance(state, dict) and any("Mixed_7c" in str(k) for k in state)
    except Exception:  # noqa: BLE001 - text, a torn download, a pickle that is not weights: all the same to a user
        ok = False
    if not ok:
        raise UserError(f"{path} is not torch-fidelity's InceptionV3 weights file ({INCEPTION_FILE}): download "
                        f"{INCEPTION_URL} again, or point eval.inception_weights at the right file")


def feature_names() -> list[str]:
    return ["inception", "unet", *registry.feature_names()]


def check(e) -> None:
    """The ``eval`` group's values, and the files its feature network needs."""
    if e.feature != "none" and e.feature not in feature_names():
        raise UserError(f"eval.feature must be one of {', '.join(feature_names())} or none, got {e.feature!r}")
    if e.feature == "inception":
        inception_weights(e.inception_weights)
    for key in ("pr_k", "kid_subset", "kid_subsets", "pixel_samples", "per_cluster"):
        if e[key] < 1:
            raise UserError(f"eval.{key} must be >= 1, got {e[key]}")


class MidBlockFeatures(nn.Module):
    """The UNet's own middle-block activations ("h-space", which the paper's code extracts) of clean images
    (t = 0), averaged over space: an offline feature space for ANY model. Scores in it compare runs of the
    same model with each other; they are not Inception FIDs and not comparable across models.

    Images are taken into the model's space first (``space``: a latent model's are encoded; None or ``Pixels``: as
    they are) and a conditional model's fixed condition passed (``conditioning``); a
    transformer (DiT) has no middle block, so its middle transformer block's tokens stand in for it."""

    def __init__(self, unet: nn.Module, pool: str = "mean", space=None, conditioning=None):
        super().__init__()
        self.unet = getattr(unet, "_orig_mod", unet)  # a torch.compile'd UNet: hooks need the plain module
        self.middle = middle_block(self.unet)
        if self.middle is None:
            raise UserError("this model has no middle block, which eval.feature=unet, eval.unet_memorisation and "
                            "experiment=auto read: set eval.unet_memorisation=false and another eval.feature")
        self.pool = pool  # mean | mean_std (the spread over space too: tells shapes apart better, twice the size)
        self.space, self.conditioning = space, conditioning

    @timing.network
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        captured = {}
        if self.space is not None:
            x = self.space.encode(x).to(x.device)
        kwargs = {} if self.conditioning is None else self.conditioning.kwargs("cond", len(x), x.device,
                                                                              self.unet.dtype)
        handle = self.middle.register_forward_hook(lambda m, i, out: captured.setdefault("h", out))
        try:
            self.unet(x.to(self.unet.dtype), torch.zeros(len(x), dtype=torch.long, device=x.device), **kwargs)
        finally:
            handle.remove()
        h = captured["h"][0] if isinstance(captured["h"], tuple) else captured["h"]
        h = h.float()
        dims = (1,) if h.dim() == 3 else (2, 3)  # tokens (B, N, D) or feature maps (B, C, H, W)
        if self.pool == "mean_std":
            return torch.cat([h.mean(dim=dims), h.std(dim=dims)], dim=1)
        return h.mean(dim=dims)


def middle_block(denoiser: nn.Module) -> nn.Module | None:
    """A UNet's mid_block, or a transformer's middle block."""
    if getattr(denoiser, "mid_block", None) is not None:
        return denoiser.mid_block
    blocks = getattr(denoiser, "transformer_blocks", None)
    return blocks[len(blocks) // 2] if blocks else None


def middle_width(denoiser: nn.Module) -> int:
    c = denoiser.config
    return c.block_out_channels[-1] if "block_out_channels" in c else c.num_attention_heads * c.attention_head_dim


def feature_network(name: str, device: torch.device, weights: str | None = None, unet: nn.Module | None = None,
                    model_identity: str = "", space=None, conditioning=None) -> FeatureNetwork:
    """``inception`` (torch-fidelity's FID network, from a local weights file), ``unet`` (the model's own
    middle block; needs ``unet``) or a registered plug-in's."""
    if name == "unet":
        if unet is None:
            raise UserError("eval.feature=unet needs the model")
        return FeatureNetwork(MidBlockFeatures(unet, space=space, conditioning=conditioning), middle_width(unet),
                              f"unet-{model_identity}")
    if name == "inception":
        from torchmetrics.image.fid import NoTrainInceptionV3

        net = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(inception_weights(weights))).to(device)
        return FeatureNetwork(net, 2048, "inception", lambda x: ((x.clamp(-1, 1) + 1) * 127.5).round().byte())
    factory = registry.feature_factory(name)
    if factory is None:
        raise UserError(f"eval.feature must be one of {', '.join(feature_names())} (or none), got {name!r}")
    return factory(device)


def cached_features(net: FeatureNetwork, images, ids: list[str], cache_dir: Path | None) -> torch.Tensor:
    """Features of a fixed image set (a tensor, or ``ImageFiles`` read in batches), computed once per (feature
    network, images) and reused by every run."""
    if cache_dir is None:
        return net(images)
    if isinstance(images, torch.Tensor):
        key = hashlib.sha256("\n".join([net.name, str(tuple(images.shape))] + ids).encode())
        key.update(images[:: max(1, len(images) // 16)].float().numpy().tobytes())  # ids alone may not pin pixels
    else:
        key = hashlib.sha256("\n".join([net.name, images.fingerprint()] + ids).encode())
    path = Path(cache_dir) / "features" / f"{net.name}-{key.hexdigest()[:20]}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    features = net(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
        torch.save(features, f)
    os.replace(f.name, path)  # atomic: concurrent runs never read half a file
    return features


class _Identity(nn.Module):
    """Features are computed (and cached) outside torchmetrics; it only does the statistics."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x):
        return x


def fid_kid(real: torch.Tensor, fake: torch.Tensor, kid_subset: int = 100, kid_subsets: int = 100,
            seed: int = 0) -> dict:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    dim = real.shape[1]
    # sync_on_compute off: under torchrun only rank 0 scores, with every sample already gathered
    fid = FrechetInceptionDistance(feature=_Identity(dim), reset_real_features=False, sync_on_compute=False)
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    subset = min(kid_subset, len(real), len(fake))
    if subset < kid_subset:
        warnings.warn(f"KID subset size lowered from {kid_subset} to {subset} to fit {len(fake)} samples and "
                      f"{len(real)} evaluation images", stacklevel=2)
    torch.manual_seed(seed)  # KID draws its subsets from the global generator
    with warnings.catch_warnings():  # "KID keeps every feature": known, and small here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Identity(dim), subsets=kid_subsets, subset_size=subset,
                                      sync_on_compute=False)
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": subset, "num_real": len(real), "num_fake": len(fake)}


CHUNK = 512  # rows of a distance matrix held at once: N x N is never formed (N = 50,000 would be 20 GB)


def _distances(a: torch.Tensor, b: torch.Tensor):
    """(start, block) over row blocks of the a-to-b Euclidean distance matrix, in float64; ``b`` is converted
    a block at a time too, so no float64 copy of either set is made."""
    for start in range(0, len(a), CHUNK):
        rows = a[start:start + CHUNK].double()
        yield start, torch.cat([torch.cdist(rows, b[j:j + CHUNK].double()) for j in range(0, len(b), CHUNK)], dim=1)


def mean_pairwise_distance(x: torch.Tensor) -> float:
    flat = x.reshape(len(x), -1)
    n = len(x)
    if n < 2:
        return float("nan")
    return float(sum(block.sum() for _, block in _distances(flat, flat)) / (n * (n - 1)))


def nearest_distances(a: torch.Tensor, b: torch.Tensor, exclude_self: bool = False) -> torch.Tensor:
    """Each row of ``a``'s distance to its nearest row of ``b`` (to another row, with ``exclude_self``)."""
    out = []
    for start, block in _distances(a, b):
        if exclude_self:
            rows = torch.arange(len(block))
            block[rows, start + rows] = float("inf")
        out.append(block.min(1).values)
    return torch.cat(out)


def nearest_indices(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Each row of ``a``'s nearest row of ``b`` (flattened), by index."""
    flat_a, flat_b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return torch.cat([block.argmin(1) for _, block in _distances(flat_a, flat_b)])


def kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's distance to its k-th nearest other row (the radius of its ball in the P&R manifold)."""
    out = []
    for start, block in _distances(x, x):
        rows = torch.arange(len(block))
        block[rows, start + rows] = float("inf")
        out.append(block.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(out)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """For each point, whether it lies in some ball (centre, radius)."""
    hit = []
    for _, block in _distances(points, centres):
        hit.append((block <= radii[None, :]).any(1))
    return torch.cat(hit)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict:
    """Improved precision (fakes inside the real manifold) and recall (reals inside the fake manifold), each
    manifold the union of its points' balls out to their k-th nearest neighbour."""
    k = min(k, len(real) - 1, len(fake) - 1)
    if k < 1:
        return {"precision": float("nan"), "recall": float("nan"), "k": k}
    precision = _inside(fake, real, kth_neighbour_radius(real, k)).double().mean()
    recall = _inside(real, fake, kth_neighbour_radius(fake, k)).double().mean()
    return {"precision": float(precision), "recall": float(recall), "k": k, "num_real": len(real),
            "num_fake": len(fake)}


def memorisation(samples: torch.Tensor, refs: torch.Tensor) -> dict:
    return memorisation_from(nearest_distances(samples.reshape(len(samples), -1), refs.reshape(len(refs), -1)), refs)


def memorisation_from(to_ref: torch.Tensor, refs: torch.Tensor) -> dict:
    """``memorisation`` from each sample's nearest-reference distance (computed as the samples were made);
    ``refs`` are the references in the same space (images or features)."""
    r = refs.reshape(len(refs), -1)
    ref_nn = nearest_distances(r, r, exclude_self=True).mean()
    ratio = to_ref / ref_nn
    return {"mean_ratio": float(ratio.mean()), "fraction_below_0.5": float((ratio < 0.5).double().mean()),
            "reference_nn_distance": float(ref_nn), "num_samples": len(to_ref), "num_references": len(refs)}


def feature_memorisation(fake: torch.Tensor, ref_features: torch.Tensor, held_features: torch.Tensor | None = None
                         ) -> dict:
    """``memorisation`` in a feature space; with held-out images' features, their own fraction below 0.5 (the
    level real, unseen images of the domain reach)."""
    out = memorisation_from(nearest_distances(fake, ref_features), ref_features)
    if held_features is not None and len(held_features):
        out["held_out_fraction_below_0.5"] = memorisation(held_features, ref_features)["fraction_below_0.5"]
    return out


GRAIN_DEFINITION = ("mean |4-neighbour Laplacian| over every interior pixel and channel of an image in [-1, 1]; "
                    "ratio = the samples' mean over the held-out images' mean (1: as smooth as real images)")


def grain(images: torch.Tensor) -> torch.Tensor:
    """Per-image high-frequency energy: the mean absolute response of the 3x3 Laplacian (GRAIN_DEFINITION).
    Speckle raises it everywhere; a real image's edges raise it only along them."""
    x = ((images.double().clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1  # as the PNG holds it, like real images
    lap = 4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1] - x[..., 1:-1, :-2] - x[..., 1:-1, 2:]
    return lap.abs().flatten(1).mean(1)


def grain_ratio(fake: torch.Tensor, real: torch.Tensor, seed: int = 0, rounds: int = 1000) -> dict:
    """``grain`` of the samples over that of the held-out images, with a bootstrap 95% interval (both sets
    resampled with replacement)."""
    fake, real = fake.double(), real.double()
    gen = torch.Generator().manual_seed(seed)
    boot = torch.stack([fake[torch.randint(len(fake), (len(fake),), generator=gen)].mean()
                        / real[torch.randint(len(real), (len(real),), generator=gen)].mean() for _ in range(rounds)])
    low, high = torch.quantile(boot, torch.tensor([0.025, 0.975], dtype=boot.dtype)).tolist()
    return {"ratio": float(fake.mean() / real.mean()), "interval_95": [low, high], "samples": float(fake.mean()),
            "held_out": float(real.mean()), "num_samples": len(fake), "num_held_out": len(real),
            "definition": GRAIN_DEFINITION}


def first_images(images, n: int) -> torch.Tensor:
    """The first ``n`` of a tensor of images or of an ``ImageFiles`` set (read as far as needed)."""
    if isinstance(images, torch.Tensor):
        return images[:n]
    parts, have = [], 0
    for chunk in batches(images, 64):
        if have >= n:
            break
        parts.append(chunk[: n - have])
        have += len(parts[-1])
    return torch.cat(parts) if parts else torch.empty(0)


class SampleScores:
    """What evaluation needs of the samples, taken chunk by chunk as they are generated, so the samples
    themselves are never all in memory: their features, each one's nearest-reference distance, the
    scorer's domain counts, and the first ``keep`` samples (pixel diversity and the grid). Memory:
    N x (feature dim + 1) numbers plus ``keep`` images, whatever N is."""

    def __init__(self, refs: torch.Tensor, net: "FeatureNetwork | None" = None, scorer=None, keep: int = 512,
                 unet_net: "FeatureNetwork | None" = None, clusters: list = ()):
        self.ref_images = refs
        self.refs, self.net, self.scorer, self.keep = refs.reshape(len(refs), -1), net, scorer, keep
        # few-shot clusters (unseen.fewshot.Clusters), each fed the samples' features or the images themselves
        self.clusters = list(clusters)
        self.unet_net = unet_net  # the UNet's middle block, for memorisation in a space every model has
        self.count, self.nearest, self.features, self.kept, self.unet_features = 0, [], [], [], []
        self.grain: list[torch.Tensor] = []  # every sample's, for the grain ratio
        self.bands: list[torch.Tensor] = []  # every sample's energy per octave (unseen.spectrum)
        # every sample's nearest reference (distance, index) in the redraw space (unseen.redraw)
        self.redraw_refs = redraw.to_space(refs)
        self.redraw: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.domain_counts: dict[str, float] = {}

    def add(self, images: torch.Tensor) -> None:
        """The next chunk of samples, in the run's order."""
        images = images.float()
        self.nearest.append(nearest_distances(images.reshape(len(images), -1), self.refs))
        self.grain.append(grain(images))
        self.bands.append(band_energy(images))
        self.redraw.append(redraw.nearest(redraw.to_space(images), self.redraw_refs))
        if self.net is not None:
            self.features.append(self.net(images))
        if self.unet_net is not None:
            self.unet_features.append(self.features[-1] if self.unet_net is self.net else self.unet_net(images))
        for c in self.clusters:
            c.add(self.features[-1] if c.space != "lpips" else images)
        if self.scorer is not None and len(images):
            for name, rate in self.scorer(images).items():
                self.domain_counts[name] = self.domain_counts.get(name, 0.0) + rate * len(images)
        room = self.keep - sum(len(k) for k in self.kept)
        if room > 0:
            self.kept.append(images[:room].clone())
        self.count += len(images)

    def state(self) -> dict:
        """What another rank needs to merge (``merge``): small next to the samples."""
        return {"count": self.count, "nearest": self.nearest, "features": self.features, "kept": self.kept,
                "domain_counts": self.domain_counts, "unet_features": self.unet_features, "grain": self.grain,
                "bands": self.bands, "redraw": self.redraw, "clusters": [c.state() for c in self.clusters]}

    def merge(self, states: list[dict]) -> "SampleScores":
        """The scores of every rank's chunks, in rank (= sample) order."""
        merged = SampleScores(self.ref_images, self.net, self.scorer, self.keep, self.unet_net,
                              [c.merge([s["clusters"][i] for s in states]) for i, c in enumerate(self.clusters)])
        for s in states:
            merged.count += s["count"]
            merged.unet_features += s["unet_features"]
            merged.nearest += s["nearest"]
            merged.grain += s["grain"]
            merged.bands += s["bands"]
            merged.redraw += s["redraw"]
            merged.features += s["features"]
            for k in s["kept"]:
                room = merged.keep - sum(len(x) for x in merged.kept)
                if room > 0:
                    merged.kept.append(k[:room])
            for name, c in s["domain_counts"].items():
                merged.domain_counts[name] = merged.domain_counts.get(name, 0.0) + c
        return merged

    @property
    def first(self) -> torch.Tensor:
        """The first ``keep`` samples."""
        return torch.cat(self.kept) if self.kept else torch.empty(0)

    def redraw_nearest(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every sample's (distance, index) of its nearest reference in the redraw space."""
        return torch.cat([d for d, _ in self.redraw]), torch.cat([i for _, i in self.redraw])

    def fake_features(self) -> torch.Tensor:
        return torch.cat(self.features)

    def domain_rates(self) -> dict[str, float]:
        return {name: round(c) / self.count for name, c in self.domain_counts.items()}

    def domain_count(self, name: str) -> int:
        return round(self.domain_counts.get(name, 0.0))
