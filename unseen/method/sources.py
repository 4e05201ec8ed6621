"""Where the latents at t_M come from: every source behind one interface (``Source.draw``), so the pipeline
never special-cases one. All feed the same ``generate`` path.

* ``prior``  -- draws of the fitted prior, selected by geometry (the paper's method): ``fit`` then ``select``;
* ``slerp``  -- spherical interpolation between two references, with interpolated norm;
* ``replay`` -- the references' own latents: reconstruction, an upper bound that memorises;
* ``id``     -- the model's own prior: pure noise at T - 1, denoised on a grid from T - 1 (no inversion);
* ``paper``  -- the paper's code's actual candidates: for a random reference latent and a prior draw,
  ``paper_points`` slerp points between them (t = i / (n + 1)), then the geometric filter;
* ``sdedit`` -- a baseline: each reference noised FORWARD to t_M stochastically (no inversion), then
  denoised.

Randomness: candidate batch b of a stream draws from its own generator seeded by
(seed, stream, b), so sample i depends on the seed and the candidate batch size only,
never on how many samples were asked for or on the sampler's batch size.
"""

from __future__ import annotations

import zlib
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from unseen.errors import GeometryRejectError, UserError, check_float
from unseen.method import ddim
from unseen.method.geometry import (
    CRITERIA,
    GeometryTargets,
    criteria,
    geometry_targets,
    optimize_into_band,
    random_subsets,
    within_band,
)
from unseen.method.prior import GaussianPrior, check_references, draw, fit_prior, signal_scale
from unseen.specs import DrawSpec

DRAW_CHUNK = 256  # latents made at once by the replay / slerp / id / sdedit sources


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
    refs = refs.reshape(refs.shape[0], -1).to(torch.float64)
    gram = refs @ refs.T
    kept, values, kept_values, moved = [], {c: [] for c in CRITERIA}, {c: [] for c in CRITERIA}, []
    candidates = accepted = b = 0
    while accepted < count:
        if filtering and candidates >= max_candidates:
            raise _budget_error(mode, accepted, candidates, count, bandwidth)
        n = candidate_batch if filtering else min(candidate_batch, count - accepted)
        g = batch_generator(seed, "prior", b)
        z = draw(prior, n, g) if propose is None else propose(n, g)
        subsets = random_subsets(n, len(refs), subset_size, g)
        shift = None
        if mode == "optimize":
            z, shift = _optimized(z, refs, subsets, targets, bandwidth, enabled, gram, optimize)
        vals = criteria(z, refs, subsets, gram) if targets else {}
        ok = within_band(vals, targets, bandwidth, enabled) if filtering else torch.ones(n, dtype=torch.bool)
        take = ok.nonzero().squeeze(1)[: count - accepted]
        # Candidates after the one that completes the count were never needed: counting them would
        # understate the acceptance rate.
        used = n if accepted + len(take) < count else int(take[-1]) + 1
        (sink or kept.append)(z[take].float())
        for c, v in vals.items():
            values[c].append(v[:used])
            kept_values[c].append(v[take])
        if shift is not None:
            moved.append(shift[take])
        candidates, accepted, b = candidates + used, accepted + len(take), b + 1
    return Selection(torch.cat(kept) if kept else torch.empty(0), candidates, accepted,
                     {c: torch.cat(v) for c, v in values.items() if v},
                     {c: torch.cat(v) for c, v in kept_values.items() if v}, torch.cat(moved) if moved else None)


def _optimized(z, refs, subsets, targets, bandwidth, enabled, gram, options):
    """The draws moved into the band, and how far each moved over its distance to the nearest reference."""
    moved = optimize_into_band(z, refs, subsets, targets, bandwidth, enabled, gram=gram, **(options or {}))
    nearest = torch.cat([torch.cdist(z[i:i + 512], refs).min(1).values for i in range(0, len(z), 512)])
    return moved, (moved - z).norm(dim=1) / nearest


def _budget_error(mode: str, accepted: int, candidates: int, count: int, bandwidth: float) -> GeometryRejectError:
    rate = accepted / candidates
    estimate = (f" (about {int(count / rate):,} candidates would be needed)" if accepted else
                " (none passed: the band may be far narrower than the draws' spread)")
    return GeometryRejectError(
        f"geometry {mode!r} accepted {accepted} of {candidates} candidates (rate {rate:.2%}) at bandwidth "
        f"{bandwidth}, short of the {count} samples asked for: raise geometry.bandwidth or "
        f"geometry.max_candidates{estimate}")


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


def collage_masks(count: int, shape: tuple[int, int], cells: int, g: torch.Generator, parts: int = 2) -> torch.Tensor:
    """(count, parts, H, W) weights summing to 1 over the parts: random fields of ``cells`` x ``cells`` values,
    upsampled smoothly and made nearly one-hot (a steep softmax, a sigmoid for two parts), so each sample takes
    whole regions from one reference and blends at the seams."""
    field = torch.randn(count, parts - 1, cells, cells, generator=g, dtype=torch.float64)
    field = torch.nn.functional.interpolate(field, size=shape, mode="bicubic", align_corners=False)
    return torch.softmax(torch.cat([6 * field, torch.zeros_like(field[:, :1])], dim=1), dim=1)


def collage_latents(refs: torch.Tensor, count: int, cells: int = 3, seed: int = 0, chunk: int | None = None,
                    parts: int = 2):
    """``count`` collages of ``parts`` distinct references' latents (K, C, H, W) joined by ``collage_masks``:
    sum_i m_i z_i, rescaled by sqrt(sum_i m_i^2) so the seams keep a latent's noise level. Flattened; with
    ``chunk``, an iterator of consecutive chunks (references and masks are drawn first: the same values)."""
    if len(refs) < parts:
        raise ValueError(f"the collage source needs at least {parts} references")
    g = batch_generator(seed, "collage", 0)
    chosen = random_subsets(count, len(refs), parts, g)
    masks = collage_masks(count, tuple(refs.shape[-2:]), cells, g, parts)

    def part(i: int, j: int) -> torch.Tensor:
        z, m = refs[chosen[i:j]].double(), masks[i:j].unsqueeze(2)  # (n, parts, C, H, W), (n, parts, 1, H, W)
        return ((m * z).sum(1) / (m ** 2).sum(1).sqrt()).reshape(j - i, -1)

    if chunk is None:
        return part(0, count)
    return (part(i, min(i + chunk, count)) for i in range(0, count, chunk))


def lowpass(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of (N, C, H, W) latents, ``sigma`` in latent pixels (reflecting borders)."""
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    pad = torch.nn.functional.pad(x, (radius,) * 4, mode="reflect" if min(x.shape[-2:]) > radius else "replicate")
    y = torch.nn.functional.conv2d(pad, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def hybrid_latents(refs: torch.Tensor, count: int, sigma: float = 2.0, seed: int = 0, chunk: int | None = None):
    """``count`` hybrids of two distinct references' latents (K, C, H, W): the low frequencies of one (layout,
    colour fields: a Gaussian blur of ``sigma`` latent pixels) and the high frequencies of the other (edges, detail),
    rescaled to the mean of their two norms. Flattened; with ``chunk``, an iterator of consecutive chunks."""
    if len(refs) < 2:
        raise ValueError("the hybrid source needs at least 2 references")
    g = batch_generator(seed, "hybrid", 0)
    pairs = random_subsets(count, len(refs), 2, g)

    def part(i: int, j: int) -> torch.Tensor:
        a, b = refs[pairs[i:j, 0]].double(), refs[pairs[i:j, 1]].double()
        z = (lowpass(a, sigma) + b - lowpass(b, sigma)).reshape(j - i, -1)
        norm = (a.reshape(j - i, -1).norm(dim=1, keepdim=True) + b.reshape(j - i, -1).norm(dim=1, keepdim=True)) / 2
        return z * norm / z.norm(dim=1, keepdim=True)

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


# ---------------------------------------------------------------------------------------------------------------
# The sources behind one interface


@dataclass
class DrawContext:
    """What a source may need. ``ref_latents`` is None for sources that need no inversion (``inverts`` False)."""

    spec: DrawSpec  # the run's seed and its sampler, prior and geometry settings (specs.draw_spec)
    x0: torch.Tensor  # (K, C, H, W) the references in the model's space (a latent model's: encoded)
    ref_latents: torch.Tensor | None  # (K, C, H, W) at t_M
    alpha_bar_t_M: float | torch.Tensor = 1.0  # the schedule at t_M (sdedit noises forward to it)
    stage: Callable[[str], Any] = lambda name: nullcontext()  # times a named part (fit_prior, geometry)


@dataclass
class Drawn:
    """What a source reports beside the latents it handed to the sink."""

    metrics: dict = field(default_factory=dict)  # sections of metrics.json (prior, geometry)
    diagnostics: dict = field(default_factory=dict)  # criteria of the references and draws, for W&B histograms
    # < 1: the latents carry more noise than t_M's and start at the later t that matches it (sampler.match_noise)
    signal_scale: float = 1.0


class Source:
    """``draw(ctx, count, sink)`` hands ``count`` flattened float32 latents at t_M to ``sink`` in order (the
    precision latents.safetensors keeps, so replaying saved latents gives the samples exactly)."""

    inverts = True  # needs the references inverted to t_M
    mixes = True  # its latents depend on t_M (experiment=auto has something to choose)

    def draw(self, ctx: DrawContext, count: int, sink: Callable[[torch.Tensor], None]) -> Drawn:
        raise NotImplementedError

    def grid(self, generation_grid: list[int], num_train_timesteps: int) -> list[int]:
        """The grid its latents are denoised on."""
        return generation_grid


class Replay(Source):
    def draw(self, ctx, count, sink):
        for i in range(0, count, DRAW_CHUNK):
            sink(replay_latents(ctx.ref_latents, min(DRAW_CHUNK, count - i), start=i).float())
        return Drawn()


class Chunked(Source):
    """A source whose latents come as an iterator of chunks of DRAW_CHUNK (``chunks``), handed to the sink as
    they come."""

    def chunks(self, ctx, count):
        raise NotImplementedError

    def draw(self, ctx, count, sink):
        for part in self.chunks(ctx, count):
            sink(part.float())
        return Drawn()


class Slerp(Chunked):
    def chunks(self, ctx, count):
        return slerp_latents(ctx.ref_latents, count, ctx.spec.seed, chunk=DRAW_CHUNK)


class Collage(Chunked):
    """Regions of two or more references' latents joined (``collage_latents``): new combinations of the
    references' parts (one face's eyes, another's mouth), which denoising from t_M harmonises into one image."""

    def chunks(self, ctx, count):
        s = ctx.spec.sampler
        return collage_latents(ctx.ref_latents, count, s.collage_cells, ctx.spec.seed, chunk=DRAW_CHUNK,
                               parts=s.collage_parts)


class Hybrid(Chunked):
    """The low frequencies of one reference's latent with the high frequencies of another's (``hybrid_latents``)."""

    def chunks(self, ctx, count):
        return hybrid_latents(ctx.ref_latents, count, ctx.spec.sampler.hybrid_sigma, ctx.spec.seed, chunk=DRAW_CHUNK)


class OwnPrior(Chunked):
    """Pure noise at T - 1, denoised with as many steps as the generation grid has."""

    inverts = mixes = False

    def chunks(self, ctx, count):
        return noise_latents(count, ctx.x0[0].numel(), ctx.spec.seed, chunk=DRAW_CHUNK)

    def grid(self, generation_grid, num_train_timesteps):
        return ddim.time_grid(num_train_timesteps - 1, len(generation_grid) - 1)


class SDEdit(Source):
    """x_tM = sqrt(ab) x0 + sqrt(1 - ab) e for the references in turn (Meng et al.'s SDEdit)."""

    inverts = False

    def draw(self, ctx, count, sink):
        ab = torch.as_tensor(ctx.alpha_bar_t_M, dtype=torch.float64).cpu()
        g = batch_generator(ctx.spec.seed, "sdedit", 0)
        for i in range(0, count, DRAW_CHUNK):
            x0 = replay_latents(ctx.x0, min(DRAW_CHUNK, count - i), start=i)
            sink((ab.sqrt() * x0 + (1 - ab).sqrt() * torch.randn(x0.shape, generator=g, dtype=torch.float64)).float())
        return Drawn()


@dataclass
class Fitted:
    """The prior fitted to the references' latents and the geometry estimated from them (``fit``)."""

    prior: GaussianPrior
    targets: GeometryTargets | None
    subset_size: int


def fit(spec: DrawSpec, ref_latents: torch.Tensor, stage=lambda name: nullcontext()) -> Fitted:
    """``fit_prior`` on the latents, and the geometry targets (leave-one-out) where the mode or diagnostics use
    them."""
    p, g = spec.prior, spec.geometry
    with stage("fit_prior"):
        try:
            prior = fit_prior(ref_latents, p.variance, p.components, p.floor, p.truncate, p.bandwidth,
                              list(p.symmetries), p.max_shift, p.kernel)
        except ValueError as err:
            raise UserError(str(err)) from err
    with stage("geometry"):
        k, filtering = len(ref_latents), g.mode in ("reject", "optimize")
        # With mode none the targets are diagnostics only, so a small K scores against fewer references.
        m = g.subset_size if filtering else min(g.subset_size, k - 1)
        targets = None
        if filtering or m >= 2:
            try:
                targets = geometry_targets(ref_latents, m, batch_generator(spec.seed, "geometry", 0))
            except ValueError as err:
                raise UserError(str(err)) from err
    return Fitted(prior, targets, m)


def select(spec: DrawSpec, fitted: Fitted, ref_latents: torch.Tensor, count: int, sink, propose=None) -> Selection:
    """Draws of the fitted prior (or ``propose``'s candidates), kept by the geometry band of ``geometry.mode``."""
    g = spec.geometry
    return select_prior_draws(fitted.prior, ref_latents, fitted.targets, count, mode=g.mode, bandwidth=g.bandwidth,
                              enabled=tuple(g.criteria), subset_size=fitted.subset_size,
                              candidate_batch=g.candidate_batch, max_candidates=g.max_candidates, seed=spec.seed,
                              sink=sink, optimize=dict(steps=g.steps, step_size=g.step_size, margin=g.margin),
                              propose=propose)


class Prior(Source):
    """The paper's method: ``fit`` the prior, then ``select`` its draws by geometry. ``paper``: the candidates are
    the paper's code's slerp points between a reference latent and a prior draw."""

    def __init__(self, paper: bool = False):
        self.paper = paper

    def draw(self, ctx, count, sink):
        fitted = fit(ctx.spec, ctx.ref_latents, ctx.stage)
        with ctx.stage("geometry"):
            propose = paper_candidates(fitted.prior, ctx.ref_latents, ctx.spec.sampler.paper_points) if self.paper \
                else None
            selection = select(ctx.spec, fitted, ctx.ref_latents, count, sink, propose)
        targets = fitted.targets
        return Drawn({"prior": fitted.prior.stats(), "geometry": geometry_section(ctx.spec.geometry, targets, selection)},
                     {"reference": targets.reference_values if targets else {}, "draws": selection.values,
                      "accepted": selection.accepted_values},
                     signal_scale(fitted.prior) if ctx.spec.sampler.match_noise else 1.0)


def geometry_section(g, targets: GeometryTargets | None, selection: Selection) -> dict:
    """The ``geometry`` section of metrics.json."""
    out = {"mode": g.mode, "bandwidth": g.bandwidth, "criteria": list(g.criteria),
           "candidates": selection.candidates, "accepted": selection.accepted,
           "acceptance_rate": selection.acceptance_rate,
           "targets": targets.as_dict() if targets else None,
           "draws": {c: {"mean": float(v.mean()), "std": float(v.std())} for c, v in selection.values.items()}}
    if selection.moved is not None:  # how far optimize moved the kept draws, in units of their nearest reference
        out["moved_over_nearest"] = {"median": float(selection.moved.median()), "mean": float(selection.moved.mean()),
                                     "max": float(selection.moved.max())}
    return out


SOURCES: dict[str, Source] = {"prior": Prior(), "slerp": Slerp(), "collage": Collage(), "hybrid": Hybrid(),
                              "replay": Replay(),
                              "id": OwnPrior(),
                              "paper": Prior(paper=True), "sdedit": SDEdit()}


def source(name: str) -> Source:
    if name not in SOURCES:
        raise UserError(f"sampler.source must be one of {', '.join(SOURCES)}, got {name!r}")
    return SOURCES[name]


def check(cfg) -> None:
    """The sampler's settings, and what its source needs of the references."""
    s, p, g, k = cfg.sampler, cfg.prior, cfg.geometry, cfg.target.num_references
    source(s.source)
    if s.count < 1:
        raise UserError(f"sampler.count must be >= 1, got {s.count}")
    check_float(s.eta, "sampler.eta", 0, 1, "0 is the method's deterministic DDIM, 1 DDPM-like sampling")
    if s.eta_from is not None and s.eta_from < 0:
        raise UserError(f"sampler.eta_from must be >= 0 (or null: every step), got {s.eta_from}")
    if s.cleanup_t < 0:
        raise UserError(f"sampler.cleanup_t must be >= 0 (0: no clean-up), got {s.cleanup_t}")
    if s.cleanup_t:
        on = ddim.grids(cfg.mixing)[2]
        if s.cleanup_t not in on[:-1]:
            raise UserError(f"sampler.cleanup_t = {s.cleanup_t} must be a point of the generation grid below t_M "
                            f"({', '.join(map(str, on[1:6]))}, ...): choose one of them")
    if s.match_noise and (s.source not in ("prior", "paper") or p.variance != "mixture"):
        raise UserError(f"sampler.match_noise starts a mixture's draws at the noise level its bandwidth gives them; "
                        f"it needs sampler=prior (or paper) with prior.variance=mixture, got sampler.source="
                        f"{s.source}, prior.variance={p.variance}: drop sampler.match_noise")
    check_float(s.guidance, "sampler.guidance", 0, 50, "1 is the condition alone (the default); 7.5 is Stable "
                "Diffusion's usual scale")
    if s.paper_points < 1:
        raise UserError(f"sampler.paper_points must be >= 1, got {s.paper_points}")
    if s.batch_size < 1:
        raise UserError(f"sampler.batch_size must be >= 1, got {s.batch_size}")
    if s.source in ("slerp", "collage", "hybrid") and k < 2:
        raise UserError(f"sampler={s.source} joins two references, but target.num_references = {k}: "
                        f"use at least 2 references")
    if s.collage_cells < 1:
        raise UserError(f"sampler.collage_cells must be >= 1, got {s.collage_cells}")
    if s.collage_parts < 2:
        raise UserError(f"sampler.collage_parts must be >= 2 (a collage joins references), got {s.collage_parts}")
    if s.source == "collage" and k < s.collage_parts:
        raise UserError(f"sampler.collage_parts = {s.collage_parts} joins that many references, but "
                        f"target.num_references = {k}: lower sampler.collage_parts or add references")
    check_float(s.hybrid_sigma, "sampler.hybrid_sigma", 0.1, None, "the blur that splits low from high frequencies, "
                "in latent pixels")
    if s.source in ("prior", "paper"):
        check_references(k, p.variance, p.kernel, p.components)
        if g.mode in ("reject", "optimize") and k <= g.subset_size:
            raise UserError(f"geometry={g.mode} scores each reference against subset_size = {g.subset_size} others, "
                            f"so it needs more than {g.subset_size} references, got {k}: add references or lower "
                            f"geometry.subset_size")
