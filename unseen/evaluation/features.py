"""The feature networks samples are scored in: InceptionV3 with torch-fidelity's FID weights (from a local file:
they are a download), a registered network (the tiny world's domain classifier, its penultimate layer), or the
model's own UNet middle block (any model has one); and their disk cache, keyed by the network and the images."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from unseen import registry, timing
from unseen.data import batches
from unseen.errors import UserError

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
