"""The fixed condition of a conditional denoiser: a text prompt's CLIP embedding (Stable Diffusion) or a class
label (DiT), with the null condition beside it for classifier-free guidance (``sampler.guidance``).

The method inverts and denoises every latent under ONE condition: exact DDIM inversion needs the same eps_theta
going up and coming down, so inversion always runs at guidance 1 (the condition alone)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import torch

from unseen.errors import UserError

log = logging.getLogger("unseen")


@dataclass
class Conditioning:
    """The denoiser's keyword arguments for the condition and for the null condition, each with batch size 1."""

    cond: dict[str, torch.Tensor]
    null: dict[str, torch.Tensor]
    description: dict  # {"prompt": ...} or {"class_label": ..., "null_class": ...}: metrics.json's model.condition

    def kwargs(self, which: str, n: int, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """``which`` (cond | null) expanded to a batch of ``n``; float tensors in the denoiser's dtype."""
        out = {}
        for key, value in (self.cond if which == "cond" else self.null).items():
            value = value.to(device, dtype if value.is_floating_point() else value.dtype)
            out[key] = value.expand(n, *value.shape[1:])
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha256(repr(sorted(self.description.items())).encode())
        for key in sorted(self.cond):
            h.update(key.encode() + self.cond[key].detach().double().cpu().numpy().tobytes())
        return h.hexdigest()[:16]


def check_condition(kind: str, prompt: str, class_label: int | None, guidance: float = 1.0,
                    null_class: int | None = None, name: str = "this model") -> None:
    """The one home of the rules: which condition a model of ``kind`` (pixel | latent | text | class) takes;
    checked from the model's config files before any work, and again when the weights load."""
    if kind != "text" and prompt:
        raise UserError(f"model.prompt is for text-conditioned models (Stable Diffusion); {name} is "
                        f"{'class-conditioned' if kind == 'class' else 'unconditional'}: drop model.prompt")
    if kind != "class" and class_label is not None:
        raise UserError(f"model.class_label is for class-conditional models (DiT); {name} is "
                        f"{'text-conditioned' if kind == 'text' else 'unconditional'}: drop model.class_label")
    if kind not in ("text", "class") and guidance != 1:
        raise UserError(f"sampler.guidance = {guidance} needs a conditional model (text or class); {name} is "
                        f"unconditional: drop sampler.guidance")
    if kind == "class" and class_label is not None and null_class is not None and not 0 <= class_label <= null_class:
        raise UserError(f"model.class_label must be in [0, {null_class - 1}] (or null: the null class {null_class}), "
                        f"got {class_label}")


def condition(kind: str, denoiser: torch.nn.Module, parts: dict, prompt: str, class_label: int | None,
              device) -> Conditioning | None:
    """The condition of a ``text`` or ``class`` model from ``model.prompt`` / ``model.class_label``; None for an
    unconditional one (which takes neither)."""
    null = int(denoiser.config.num_embeds_ada_norm) if kind == "class" else None
    check_condition(kind, prompt, class_label, null_class=null)
    if kind == "text":
        encode = _text_encoder(parts["tokenizer"], parts["text_encoder"].to(device).eval())
        return Conditioning({"encoder_hidden_states": encode(prompt)}, {"encoder_hidden_states": encode("")},
                            {"prompt": prompt})
    if kind == "class":
        # DiT's label embedding has one extra row: the null class
        label = null if class_label is None else int(class_label)
        return Conditioning({"class_labels": torch.tensor([label])}, {"class_labels": torch.tensor([null])},
                            {"class_label": label, "null_class": null})
    return None


def _text_encoder(tokenizer, text_encoder):
    """prompt -> the CLIP text encoder's last hidden state, (1, L, D), as Stable Diffusion's pipelines encode it."""

    @torch.no_grad()
    def encode(prompt: str) -> torch.Tensor:
        tokens = len(tokenizer(prompt, truncation=False).input_ids)
        if tokens > tokenizer.model_max_length:
            log.warning("model.prompt is %d tokens; the text encoder reads %d (with its start and end tokens): "
                        "the rest of the prompt is dropped. Shorten it to keep every word", tokens,
                        tokenizer.model_max_length)
        ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids
        return text_encoder(ids.to(text_encoder.device))[0].float().cpu()

    return encode
