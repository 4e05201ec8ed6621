"""Tiny random latent pipelines, saved as diffusers folders (model_index.json and components), built offline from
configs of the sizes diffusers' own pipeline tests use: Stable Diffusion (UNet2DConditionModel + CLIP text encoder
+ AutoencoderKL), DiT (DiTTransformer2DModel + AutoencoderKL) and an LDM (UNet2DModel + VQModel). Latents are
16 x 16 x 4 and images 32 px, the tiny world's size, so the tiny world's targets and classifier score them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

LATENT = 16  # latent side; the autoencoders below halve 32 px images


def scheduler():
    """DDIM with the paper's linear schedule, ending at alpha_bar = 1 as the method's generation does."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                         clip_sample=False, set_alpha_to_one=True, steps_offset=0, timestep_spacing="leading")


def vae(seed: int = 0):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                         sample_size=32, norm_num_groups=32, scaling_factor=0.5).eval()


def tokenizer(folder: Path):
    """A CLIP tokenizer over single letters (a BPE with no merges): enough to tell prompts apart offline."""
    from transformers import CLIPTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for piece in letters + [c + "</w>" for c in letters]:
        vocab[piece] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=16)


def stable_diffusion(folder: Path, seed: int = 0) -> Path:
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=LATENT, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=32).eval()
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=32, intermediate_size=37,
                                        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
                                        pad_token_id=1, vocab_size=60, max_position_embeddings=16)).eval()
    pipe = StableDiffusionPipeline(vae=vae(seed), text_encoder=text, tokenizer=tokenizer(folder.with_name(folder.name + "-vocab")), unet=unet,
                                   scheduler=scheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder)
    return folder


def dit(folder: Path, seed: int = 0) -> Path:
    from diffusers import DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(seed)
    transformer = DiTTransformer2DModel(sample_size=LATENT, patch_size=4, in_channels=4, out_channels=8,
                                        num_layers=2, num_attention_heads=2, attention_head_dim=16,
                                        num_embeds_ada_norm=10, norm_type="ada_norm_zero").eval()
    _randomise_zero_init(transformer, seed)
    DiTPipeline(transformer=transformer, vae=vae(seed), scheduler=scheduler()).save_pretrained(folder)
    return folder


def ldm(folder: Path, seed: int = 0) -> Path:
    from diffusers import LDMPipeline, UNet2DModel, VQModel

    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=LATENT, in_channels=4, out_channels=4, layers_per_block=1,
                       block_out_channels=(32, 64), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=32).eval()
    vq = VQModel(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4, num_vq_embeddings=64,
                 down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                 sample_size=32, norm_num_groups=32, scaling_factor=1.0).eval()
    LDMPipeline(vqvae=vq, unet=unet, scheduler=scheduler()).save_pretrained(folder)
    return folder


def _randomise_zero_init(module: torch.nn.Module, seed: int) -> None:
    """DiT zero-initialises its adaLN modulation and output layers (so a fresh model predicts 0 everywhere);
    random values there make the pinning tests compare something."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.abs().max() == 0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
