"""Where a run's seconds go: the public hook profilers and the benchmarks time through.

    with timing.record() as spent:       # seconds inside the networks' calls, by the run's stage they fell in
        unseen.run(...)

The method's code marks its network calls (``@timing.network``: the denoiser's noise prediction, the UNet's
middle-block features, the autoencoder's encode and decode) and its stages (``timing.stage``). Outside
``record`` the marks cost one global read per call. Inside, a call on a GPU is synchronised on both sides (a
forward returns before its kernels finish). The marks sit where calls leave our code, never inside a module a
user may ``torch.compile``: a timer there would break the compiled graph into pieces.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

OUTSIDE = "(between stages)"
_active: dict | None = None  # {"spent": {stage: seconds}, "stage": name} while ``record`` runs


@contextmanager
def record() -> Iterator[dict[str, float]]:
    """Seconds inside the marked network calls, by stage, added to the yielded dict while the block runs."""
    global _active
    before, spent = _active, {}
    _active = {"spent": spent, "stage": OUTSIDE}
    try:
        yield spent
    finally:
        _active = before


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Network time inside the block counts towards ``name`` (the run's stages mark themselves)."""
    if _active is None:
        yield
        return
    state = _active
    before, state["stage"] = state["stage"], name
    try:
        yield
    finally:
        state["stage"] = before


def network(fn: Callable) -> Callable:
    """Marks a call into a network: timed (synchronised on a GPU) while ``record`` runs."""

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        state = _active
        if state is None or state.get("inside"):  # a call inside a timed one (features -> encode) counts once
            return fn(*args, **kwargs)
        import torch

        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        sync()
        start, state["inside"] = time.perf_counter(), True
        try:
            return fn(*args, **kwargs)
        finally:
            sync()
            state["inside"] = False
            state["spent"][state["stage"]] = state["spent"].get(state["stage"], 0.0) + time.perf_counter() - start

    return timed


@dataclass
class Stopwatch:
    """A run's wall time and UNet evaluations (images through the UNet) per stage, each stage also marked for
    ``record``."""

    seconds: dict[str, float] = field(default_factory=dict)
    unet_evaluations: dict[str, int] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, predictor=None):
        start, evals = time.perf_counter(), predictor.evaluations if predictor else 0
        with stage(name):
            yield
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)
        if predictor is not None:
            self.unet_evaluations[name] = self.unet_evaluations.get(name, 0) + predictor.evaluations - evals
