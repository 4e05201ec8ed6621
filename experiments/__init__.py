"""The studies behind EXPERIMENTS.md and the README's numbers, each a module run from the checkout's root:

    python -m experiments.priors            # or, as before: python -m experiments.priors

Every study runs jobs through the public API (``unseen.run``, ``unseen.prepare``) and the method's public
functions, and shares its tables, figures and row cache through ``experiments.common``."""
