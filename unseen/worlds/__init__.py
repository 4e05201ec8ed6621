"""The built-in worlds, siblings that plug into the registry as a user's parts would: tiny (procedural 32 px
domains, a small DDPM, a latent model and a classifier) and emoji (real artwork by category, emoji_ddpm and its
classifier). The emoji world reuses the tiny world's public training and classifier helpers."""
