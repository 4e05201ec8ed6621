"""Where the latents at t_M come from. All sources feed the same ``generate`` path.

* ``prior``  -- draws of the fitted Gaussian, selected by geometry (the paper's method);
* ``slerp``  -- spherical interpolation between two references, with interpolated norm;
* ``replay`` -- the references' own latents: reconstruction, an upper bound that memorises;
* ``id``     -- the model's own prior: pure noise at T - 1 (handled by the pipeline's grid);
* ``paper``  -- the paper's code's actual candidates: for a random reference latent and a prior draw,
  ``paper_points`` slerp points between them (t = i / (n + 1)), then the geometric filter;
* ``sdedit`` -- a baseline: each reference noised FORWARD to t_M stochastically (no inversion), then
  denoised (handled by the pipeline).

Randomness: candidate batch b of a stream draws from its own generator seeded by
(seed, stream, b), so sample i depends on the seed and the candidate batch size only,
never on how many samples were asked for or on the sampler's batch size.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import torch

from unseen.errors import GeometryRejectError
from unseen.geometry import CRITERIA, GeometryTargets, criteria, optimize_into_band, random_subsets, within_band
from unseen.prior import GaussianPrior, draw

SOURCES = ("prior", "slerp", "replay", "id", "paper", "sdedit")


def batch_generator(seed: int, stream: str, index: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(stream.encode()) * 7919 + index) % 2**63)


@dataclass
class Selection:
    latents: torch.Tensor  # (count, D) float32: the precision latents.safetensors keeps, so it reproduces the samples
    candidates: int
    accepted: int
    values: dict[str, torch.Tensor] = field(default_factory=dict)  # criteria of the draws, for diagnostics
    accepted_values: dict[str, torch.Tensor] = field(default_factory=dict)
    # optimize: how far each kept draw moved, over its distance to the nearest reference before moving
    moved: torch.Tensor | None = None

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(1, self.candidates)


def select_prior_draws(prior: GaussianPrior, refs: torch.Tensor, targets: GeometryTargets | None, count: int, *,
                       mode: str, bandwidth: float, enabled: tuple[str, ...] = CRITERIA, subset_size: int = 10,
                       candidate_batch: int = 256, max_candidates: int = 20000, seed: int = 0,
                       sink=None, optimize: dict | None = None, propose=None) -> Selection:
    """``count`` prior draws; with ``reject``, only those whose geometry matches the references'; with
    ``optimize``, each draw is first moved into the band (``geometry.optimize_into_band``, options
    ``optimize``) and those that still miss it are rejected. ``propose(n, generator)`` replaces the prior's own
    draws as the candidates (the ``paper`` source).

    ``targets`` may be None with mode ``none``; the criteria of the draws are then not computed. With
    ``sink``, accepted draws are handed to it (float32, in order) as they come instead of being kept.
    """
    if mode in ("reject", "optimize") and targets is None:
        raise ValueError(f"geometry mode {mode!r} needs targets")
    filtering = mode in ("reject", "optimize")
    moved = []
    refs = refs.reshape(refs.shape[0], -1).to(torch.float64)
    gram = refs @ refs.T
    kept, values, kept_values = [], {c: [] for c in CRITERIA}, {c: [] for c in CRITERIA}
    candidates = accepted = 0
    b = 0
    while accepted < count:
        if filtering and candidates >= max_candidates:
            rate = accepted / candidates
            estimate = (f" (about {int(count / rate):,} candidates would be needed)" if accepted else
                        " (none passed: the band may be far narrower than the draws' spread)")
            raise GeometryRejectError(
                f"geometry {mode!r} accepted {accepted} of {candidates} candidates (rate {rate:.2%}) at bandwidth "
                f"{bandwidth}, short of the {count} samples asked for: raise geometry.bandwidth or "
                f"geometry.max_candidates{estimate}")
        n = candidate_batch if filtering else min(candidate_batch, count - accepted)
        g = batch_generator(seed, "prior", b)
        z = draw(prior, n, g) if propose is None else propose(n, g)
        subsets = random_subsets(n, len(refs), subset_size, g)
        if mode == "optimize":
            before = z
            z = optimize_into_band(z, refs, subsets, targets, bandwidth, enabled, gram=gram, **(optimize or {}))
            nearest = torch.cat([torch.cdist(before[i:i + 512], refs).min(1).values for i in range(0, n, 512)])
            shift = (z - before).norm(dim=1) / nearest
        vals = criteria(z, refs, subsets, gram) if targets else {}
        ok = within_band(vals, targets, bandwidth, enabled) if filtering else torch.ones(n, dtype=torch.bool)
        take = ok.nonzero().squeeze(1)[: count - accepted]
        # Candidates after the one that completes the count were never needed: counting them would
        # understate the acceptance rate.
        used = n if accepted + len(take) < count else int(take[-1]) + 1
        if sink is not None:
            sink(z[take].float())
        else:
            kept.append(z[take].float())
        for c, v in vals.items():
            values[c].append(v[:used])
            kept_values[c].append(v[take])
        if mode == "optimize":
            moved.append(shift[take])
        candidates += used
        accepted += len(take)
        b += 1
    return Selection(torch.cat(kept) if kept else torch.empty(0), candidates, accepted,
                     {c: torch.cat(v) for c, v in values.items() if v},
                     {c: torch.cat(v) for c, v in kept_values.items() if v}, torch.cat(moved) if moved else None)


def paper_candidates(prior: GaussianPrior, refs: torch.Tensor, points: int = 20):
    """The paper's code's proposals: groups of ``points`` slerp points between a random reference latent and a
    draw of the prior, at t = 1/(points+1) .. points/(points+1). Returns propose(n, generator) -> (n, D)."""
    refs = refs.reshape(refs.shape[0], -1).to(torch.float64)
    t = torch.arange(1, points + 1, dtype=torch.float64)[:, None] / (points + 1)

    def propose(n: int, generator: torch.Generator) -> torch.Tensor:
        groups = -(-n // points)
        anchors = refs[torch.randint(len(refs), (groups,), generator=generator)]
        noise = draw(prior, groups, generator)
        out = torch.cat([slerp(a.expand(points, -1), b.expand(points, -1), t) for a, b in zip(anchors, noise)])
        return out[:n]

    return propose


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of directions, with the norm interpolated linearly."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    so = torch.sin(omega)
    # Nearly parallel directions: fall back to linear interpolation, where slerp's 0/0 looms.
    small = so.abs() < 1e-8
    wa = torch.where(small, 1 - t, torch.sin((1 - t) * omega) / torch.where(small, 1.0, so))
    wb = torch.where(small, t, torch.sin(t * omega) / torch.where(small, 1.0, so))
    direction = wa * ua + wb * ub
    direction = direction / direction.norm(dim=-1, keepdim=True)
    return direction * ((1 - t) * na + t * nb)


def slerp_latents(refs: torch.Tensor, count: int, seed: int = 0, chunk: int | None = None):
    """``count`` interpolants between random pairs of distinct references, t ~ U(0.25, 0.75). With ``chunk``,
    an iterator of consecutive chunks of them (the pairs and t are drawn first, so the values are the same)."""
    refs = refs.reshape(refs.shape[0], -1)
    if len(refs) < 2:
        raise ValueError("the slerp source needs at least 2 references")
    g = batch_generator(seed, "slerp", 0)
    pairs = random_subsets(count, len(refs), 2, g)
    t = 0.25 + 0.5 * torch.rand(count, 1, generator=g, dtype=torch.float64)

    def part(i: int, j: int) -> torch.Tensor:
        return slerp(refs[pairs[i:j, 0]].double(), refs[pairs[i:j, 1]].double(), t[i:j])

    if chunk is None:
        return part(0, count)
    return (part(i, min(i + chunk, count)) for i in range(0, count, chunk))


def replay_latents(refs: torch.Tensor, count: int, start: int = 0) -> torch.Tensor:
    """The references' own latents, cycled: items ``start .. start + count - 1`` of the cycle."""
    refs = refs.reshape(refs.shape[0], -1)
    return refs[torch.arange(start, start + count) % len(refs)].to(torch.float64)


def noise_latents(count: int, dim: int, seed: int = 0, chunk: int | None = None):
    """Standard normal latents: the model's own prior at T - 1. With ``chunk``, an iterator of consecutive chunks
    drawn from the same generator in turn (the same values as one draw)."""
    g = batch_generator(seed, "id", 0)
    if chunk is None:
        return torch.randn(count, dim, generator=g, dtype=torch.float64)
    return (torch.randn(min(chunk, count - i), dim, generator=g, dtype=torch.float64) for i in range(0, count, chunk))
