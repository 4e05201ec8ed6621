"""The space the denoiser works in: pixels, or an autoencoder's latents (docs/design.md section 1, "latent models").

A latent model's references are encoded once (the posterior's mean times the autoencoder's ``scaling_factor``, as
Stable Diffusion's and DiT's pipelines scale their latents), inverted, fitted and drawn from in that space, and the
denoised draws are decoded to images; everything scored is in pixels. ``Pixels`` is the identity, so the stages do
not branch on the kind of model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unseen import timing


@dataclass
class Pixels:
    """A pixel-space model's space: images are the latents."""

    encoder_evaluations: int = 0
    decoder_evaluations: int = 0
    factor: int = 1
    identity: str = "pixels"

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return images.float()

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.float()


class Autoencoder:
    """A diffusers AutoencoderKL or VQModel, frozen, counting the images through its encoder and decoder.

    Encoding takes the posterior's mean (the method needs x0 to be a function of the image, and the latent
    cache a key that pins it); a VQModel's encoder output is taken before quantisation and its decoder
    quantises, as diffusers' LDMPipeline does."""

    def __init__(self, vae: torch.nn.Module, batch_size: int, identity: str):
        self.vae, self.batch_size, self.identity = vae, batch_size, identity
        self.scaling_factor = float(vae.config.get("scaling_factor", 1.0) or 1.0)
        self.factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.encoder_evaluations = self.decoder_evaluations = 0

    @property
    def device(self) -> torch.device:
        return next(self.vae.parameters()).device

    @timing.network
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for chunk in images.split(self.batch_size):
            enc = self.vae.encode(chunk.to(self.device, self.vae.dtype))
            z = enc.latent_dist.mean if hasattr(enc, "latent_dist") else enc.latents
            out.append((z.float() * self.scaling_factor).cpu())
            self.encoder_evaluations += len(chunk)
        return torch.cat(out).contiguous()

    @timing.network
    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        out = []
        for chunk in latents.split(self.batch_size):
            z = chunk.to(self.device, self.vae.dtype) / self.scaling_factor
            out.append(self.vae.decode(z).sample.float().cpu())
            self.decoder_evaluations += len(chunk)
        return torch.cat(out)


def round_trip_psnr(space, images: torch.Tensor) -> dict:
    """encode -> decode of ``images`` in dB: the floor of any reconstruction in this space."""
    from unseen.images import psnr

    rt = psnr(space.decode(space.encode(images)), images)
    return {"mean": float(rt.mean()), "min": float(rt.min()), "count": len(images)}
