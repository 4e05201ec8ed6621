"""unseen: synthesise images of an unseen domain with a frozen diffusion model.

``unseen.run("target=squares", "sampler.count=8")`` runs a job from command-line overrides (unseen.api);
it is imported on first use, so ``import unseen`` stays light."""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("run", "compose", "prepare", "Result"):
        from unseen import api

        return getattr(api, name)
    raise AttributeError(f"module 'unseen' has no attribute {name!r}")
