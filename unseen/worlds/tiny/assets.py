"""Where the tiny world's shipped models live, and how to load them (offline, one call each)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
TINY_DDPM = ASSETS / "tiny_ddpm"  # diffusers layout: unet/, scheduler/, train_stats.json
TINY_LDM = ASSETS / "tiny_ldm"  # model_index.json, unet/, vae/, scheduler/, train_stats.json
CLASSIFIER = ASSETS / "classifier"  # model.safetensors, config.json, train_stats.json
