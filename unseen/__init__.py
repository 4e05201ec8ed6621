"""unseen: synthesise images of an unseen domain with a frozen diffusion model."""

__version__ = "0.1.0"
