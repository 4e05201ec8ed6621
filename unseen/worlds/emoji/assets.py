"""Where the emoji world's shipped models live."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
EMOJI_DDPM = ASSETS / "emoji_ddpm"  # diffusers layout: unet/, scheduler/, train_stats.json
CLASSIFIER = ASSETS / "classifier"  # model.safetensors, config.json, train_stats.json
