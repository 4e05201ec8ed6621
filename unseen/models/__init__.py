"""The frozen models: loading a diffusers folder, hub id or built-in model (loading), converting the paper's raw
checkpoints (convert, `python -m unseen.models.convert`), latent models' autoencoders (autoencoder) and
conditional models' fixed condition (conditioning)."""
