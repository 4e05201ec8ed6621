"""unseen: synthesise images of an unseen domain with a frozen diffusion model.

``unseen.run("target=squares", "sampler.count=8")`` runs a job from command-line overrides (unseen.job.api);
it is imported on first use, so ``import unseen`` stays light."""

from unseen._version import __version__  # noqa: F401  (a leaf: provenance reads it without this root)


def __getattr__(name: str):
    if name in ("run", "compose", "prepare", "Result"):
        from unseen.job import api

        return getattr(api, name)
    raise AttributeError(f"module 'unseen' has no attribute {name!r}")
