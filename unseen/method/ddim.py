"""Deterministic DDIM (eta = 0): the step, the time grid, ``invert`` and ``generate``.

docs/design.md section 1. One increasing grid of integer times 0 = s_0 < ... < s_n = t_M;
inversion walks it upwards, generation downwards and then one last step to "time -1"
(alpha_bar = 1, the clean image). The noise is always predicted at the *current* point,
as the paper's code does (diffusers' inverse pipelines predict it at the next time instead).

The arithmetic around the UNet runs in float64: at large t, sqrt(alpha_bar) is ~0.006, so
x0_hat = (x - sqrt(1 - a) eps) / sqrt(a) multiplies float32 rounding by ~150 per step, and
an inversion followed by a generation chains 100 such steps. In float64 the round trip's
error is the model's own (eps at a point vs at its neighbour), not the arithmetic's.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm

from unseen import timing
from unseen.errors import NonFiniteError, UserError

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def ddim_step(x: torch.Tensor, eps: torch.Tensor, alpha_bar_a: torch.Tensor | float,
              alpha_bar_b: torch.Tensor | float, clip_x0: bool = False) -> torch.Tensor:
    """Move x from a time with cumulative alpha ``alpha_bar_a`` to one with ``alpha_bar_b`` (either direction).

    ``clip_x0`` clamps x0_hat to the image range [-1, 1] (diffusers' ``clip_sample``), for sampling from
    pure noise only: never in inversion, and not in the method's generation, which must mirror it.
    """
    alpha_bar_b = torch.as_tensor(alpha_bar_b, dtype=x.dtype, device=x.device)
    return alpha_bar_b.sqrt() * predict_x0(x, eps, alpha_bar_a, clip_x0) + (1 - alpha_bar_b).sqrt() * eps


def predict_x0(x: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor | float, clip_x0: bool = False):
    """x0_hat = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar), clamped to [-1, 1] with ``clip_x0``."""
    alpha_bar = torch.as_tensor(alpha_bar, dtype=x.dtype, device=x.device)
    x0_hat = (x - (1 - alpha_bar).sqrt() * eps) / alpha_bar.sqrt()
    return x0_hat.clamp(-1.0, 1.0) if clip_x0 else x0_hat


def time_grid(t_max: int, steps: int) -> list[int]:
    """The paper's grid: ``steps + 1`` integer times from 0 to ``t_max``, linspace rounded down."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if steps > t_max:
        raise ValueError(f"{steps} steps do not fit between 0 and t_M = {t_max}: use at most t_M steps")
    grid = torch.linspace(0, t_max, steps + 1, dtype=torch.float64).floor().long().tolist()
    return grid


def check_t_M(t_M: int, T: int | None = None) -> None:
    """The one home of the rule t_M in [1, T - 1] (T: the schedule's length, where it is known)."""
    if t_M < 1 or (T is not None and t_M > T - 1):
        span = f"[1, T-1 = {T - 1}] for this model" if T is not None else "[1, T-1]"
        raise UserError(f"mixing.t_M must be in {span}, got {t_M}")


def check_mixing(m) -> int:
    """The ``mixing`` group's values (those that need no model); returns the number of inversion steps."""
    if m.reconstruct < 0:
        raise UserError(f"mixing.reconstruct must be >= 0, got {m.reconstruct}")
    check_t_M(m.t_M)
    if m.steps is not None:
        if not 1 <= m.steps <= m.t_M:
            raise UserError(f"mixing.steps = {m.steps} must be in [1, t_M = {m.t_M}]: use at most t_M steps")
    elif m.stride is None or m.stride < 1 or m.t_M % m.stride:
        raise UserError(f"mixing.t_M = {m.t_M} must be a positive multiple of mixing.stride = {m.stride} "
                        f"(or set mixing.steps for a linspace grid)")
    steps = m.steps or m.t_M // m.stride
    if m.generate_steps is not None and (not 1 <= m.generate_steps <= steps or steps % m.generate_steps):
        raise UserError(f"mixing.generate_steps = {m.generate_steps} must divide the {steps} inversion steps, "
                        f"so the generation grid is a sub-grid of the inversion grid")
    return steps


def grids(m) -> tuple[list[int], str, list[int]]:
    """The ``mixing`` group's inversion grid, its name (for the cache key) and the generation grid."""
    if m.steps:
        grid, spec = time_grid(m.t_M, m.steps), f"linspace:{m.t_M}:{m.steps}"
    else:
        grid, spec = stride_grid(m.t_M, m.stride), f"stride:{m.stride}"
    steps = len(grid) - 1
    return grid, spec, grid if m.generate_steps is None else grid[:: steps // m.generate_steps]


def stride_grid(t_max: int, stride: int) -> list[int]:
    """0, stride, 2*stride, ..., t_max: every multiple of ``stride`` lies on it, so one inversion to the
    largest t_M of a sweep passes through every smaller t_M of the same stride."""
    if stride < 1 or t_max % stride:
        raise ValueError(f"t_M = {t_max} is not a multiple of the grid stride {stride}")
    return list(range(0, t_max + 1, stride))


def matched_start(alphas_cumprod: torch.Tensor, t_M: int, signal_scale: float) -> int:
    """The t whose noise level a latent at t_M carries once its signal is scaled by sqrt(signal_scale) and noise
    fills the rest of its norm: the first t >= t_M with alpha_bar(t) <= signal_scale * alpha_bar(t_M)."""
    ab = alphas_cumprod.to(torch.float64).cpu()
    later = torch.nonzero(ab[t_M:] <= signal_scale * ab[t_M]).flatten()
    return t_M + int(later[0]) if len(later) else len(ab) - 1


def extend_grid(grid: list[int], t: int) -> list[int]:
    """``grid`` continued above its top at its last spacing up to ``t``, which ends it."""
    if t <= grid[-1]:
        return list(grid)
    step = grid[-1] - grid[-2] if len(grid) > 1 else t - grid[-1]
    return [*grid, *range(grid[-1] + step, t, step), t]


def matched_grid(grid: list[int], alphas_cumprod: torch.Tensor, t_M: int, signal_scale: float) -> list[int]:
    """The generation grid continued up to the t whose noise the draws carry (sampler.match_noise)."""
    return extend_grid(grid, matched_start(alphas_cumprod, t_M, signal_scale))


@dataclass
class NoisePredictor:
    """eps_theta(x, t) of a diffusers UNet2DModel, in float64, counting its evaluations.

    Models with learned variance output 2C channels; the first C are epsilon. A model trained to predict
    v (``v_prediction``) or x0 (``sample``) is converted to epsilon at its own time t, never run as if it
    predicted epsilon: eps = sqrt(a) v + sqrt(1 - a) x, or eps = (x - sqrt(a) x0) / sqrt(1 - a).
    """

    unet: torch.nn.Module
    alphas_cumprod: torch.Tensor
    batch_size: int = 64
    evaluations: int = 0  # images passed through the UNet, summed over calls
    model_dtype: torch.dtype = torch.float32
    prediction_type: str = "epsilon"  # epsilon | v_prediction | sample: what the UNet was trained to predict
    conditioning: object | None = None  # unseen.models.conditioning.Conditioning of a conditional model
    guidance: float = 1.0  # classifier-free guidance; 1 (the condition alone) except while generating
    _channels: int = field(init=False)

    def __post_init__(self) -> None:
        self.alphas_cumprod = self.alphas_cumprod.to(torch.float64)
        self._channels = self.unet.config.in_channels
        if self.prediction_type not in PREDICTION_TYPES:
            raise UserError(f"the model's scheduler declares prediction_type {self.prediction_type!r}; supported: "
                            f"{', '.join(PREDICTION_TYPES)}")

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def num_train_timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def alpha_bar(self, t: int) -> torch.Tensor:
        return torch.tensor(1.0, dtype=torch.float64) if t < 0 else self.alphas_cumprod[t]

    @contextmanager
    def guiding(self, scale: float):
        """Generation under ``sampler.guidance``; inversion and reconstruction stay at 1."""
        before, self.guidance = self.guidance, scale
        try:
            yield self
        finally:
            self.guidance = before

    @timing.network
    def _eps(self, chunk: torch.Tensor, steps: torch.Tensor, which: str) -> torch.Tensor:
        kwargs = ({} if self.conditioning is None else
                  self.conditioning.kwargs(which, len(chunk), self.device, self.model_dtype))
        self.evaluations += chunk.shape[0]
        out = self.unet(chunk.to(self.device, self.model_dtype), steps, **kwargs).sample[:, : self._channels]
        return out.to(torch.float64)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: int) -> torch.Tensor:
        if len(x) == 0:  # a rank with no micro-batch of its own
            return torch.empty(x.shape, dtype=torch.float64, device=x.device)
        out = []
        for chunk in x.split(self.batch_size):
            steps = torch.full((chunk.shape[0],), t, dtype=torch.long, device=self.device)
            try:
                eps = self._eps(chunk, steps, "cond")
                if self.guidance != 1 and self.conditioning is not None:
                    null = self._eps(chunk, steps, "null")
                    eps = null + self.guidance * (eps - null)
            except torch.cuda.OutOfMemoryError as err:
                raise UserError(f"out of GPU memory running the UNet on {chunk.shape[0]} images of "
                                f"{tuple(chunk.shape[1:])}: lower model.batch_size (now {self.batch_size})") from err
            out.append(eps.to(x.device))
        # Plain NCHW: CPU convolutions may return channels-last tensors, and a latent's memory layout
        # changes the UNet's summation order, so a walk resumed from a cached (NCHW) latent would differ
        # in the last bit from an uninterrupted one.
        eps = torch.cat(out).contiguous()
        if self.prediction_type != "epsilon":
            a = self.alphas_cumprod[t]
            x64 = x.to(eps.device, torch.float64)
            eps = (a.sqrt() * eps + (1 - a).sqrt() * x64 if self.prediction_type == "v_prediction"
                   else (x64 - a.sqrt() * eps) / (1 - a).sqrt())
        if not torch.isfinite(eps).all():
            raise NonFiniteError(f"the model returned NaN/inf at t = {t}: check the checkpoint and the dtype "
                                 f"(try model.precision=fp32)")
        return eps


def invert_to(model: NoisePredictor, x0: torch.Tensor, grid: list[int], progress: bool = False,
              on_step: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """DDIM-invert along ``grid`` (increasing) from ``x0``, the latent at grid[0] (0 for clean images), and
    return the latent at grid[-1], float32. Only the current point is held: ``on_step(t, latent)`` sees each
    new point as it is made (the cache writes the ones it keeps), so memory does not grow with the steps."""
    _check_grid(grid, model.num_train_timesteps, start_anywhere=True)
    x = x0.to(torch.float32).contiguous()  # see NoisePredictor: the layout is part of the arithmetic
    for a, b in tqdm(list(zip(grid[:-1], grid[1:])), desc="invert", disable=not progress, leave=False):
        # Each step runs in float64; the point it lands on is kept in float32, the precision it is stored
        # and cached in, so a walk resumed from a cached point is bit-identical to an uninterrupted one.
        # One UNet micro-batch at a time: the float64 temporaries are per micro-batch, not per K images
        # (the same micro-batches the predictor would make, and elementwise arithmetic: the same bits).
        nxt = torch.empty_like(x)
        for start in range(0, len(x), model.batch_size):
            xa = x[start:start + model.batch_size].to(torch.float64)
            nxt[start:start + len(xa)] = ddim_step(xa, model(xa, a), model.alpha_bar(a), model.alpha_bar(b)).float()
        x = nxt
        if on_step is not None:
            on_step(b, x)
    return x


def invert(model: NoisePredictor, x0: torch.Tensor, grid: list[int], progress: bool = False,
           on_step: Callable[[int, torch.Tensor], None] | None = None) -> torch.Tensor:
    """``invert_to`` that returns the latents at EVERY grid point, shape (len(grid), N, C, H, W); index 0 is
    x0 itself. For studies on small images: it holds len(grid) x N latents (use ``invert_to`` at scale)."""
    trajectory = [x0.to(torch.float32).contiguous()]

    def keep(t: int, x: torch.Tensor) -> None:
        trajectory.append(x)
        if on_step is not None:
            on_step(t, x)

    invert_to(model, x0, grid, progress, keep)
    return torch.stack(trajectory)


def generate(model: NoisePredictor, z: torch.Tensor, grid: list[int], progress: bool = False,
             clip_x0: bool = False, eta: float = 0.0, generator: torch.Generator | None = None,
             eta_from: int | None = None) -> torch.Tensor:
    """Denoise latents at time grid[-1] down the grid and then to the clean image (alpha_bar = 1).

    ``eta`` > 0 is the stochastic DDIM of Song et al. (eq. 12; eta = 1: DDPM's posterior variance), which the
    paper's first code used: fresh noise from ``generator`` at every step. The method itself is eta = 0.
    ``eta_from``: only the steps that start at t <= eta_from are stochastic (a stochastic tail; None: all)."""
    _check_grid(grid, model.num_train_timesteps)
    x = z.to(torch.float64).contiguous()
    times = grid[::-1] + [-1]
    for a, b in tqdm(list(zip(times[:-1], times[1:])), desc="generate", disable=not progress, leave=False):
        if eta > 0 and (eta_from is None or a <= eta_from):
            x = stochastic_ddim_step(x, model(x, a), model.alpha_bar(a), model.alpha_bar(b), eta, generator, clip_x0)
        else:
            x = ddim_step(x, model(x, a), model.alpha_bar(a), model.alpha_bar(b), clip_x0)
    return x.float()


def renoise(x0: torch.Tensor, alpha_bar: float, generator: torch.Generator) -> torch.Tensor:
    """x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps with fresh eps: the forward process in one jump."""
    eps = torch.randn(x0.shape, generator=generator, dtype=torch.float64).to(x0.device)
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
    return ab.sqrt() * x0.to(torch.float64) + (1 - ab).sqrt() * eps


def stochastic_ddim_step(x: torch.Tensor, eps: torch.Tensor, alpha_bar_a, alpha_bar_b, eta: float,
                         generator: torch.Generator | None, clip_x0: bool = False) -> torch.Tensor:
    """One denoising step (a > b) with sigma = eta sqrt((1 - ab_b) / (1 - ab_a)) sqrt(1 - ab_a / ab_b)."""
    alpha_bar_a = torch.as_tensor(alpha_bar_a, dtype=x.dtype, device=x.device)
    alpha_bar_b = torch.as_tensor(alpha_bar_b, dtype=x.dtype, device=x.device)
    x0_hat = predict_x0(x, eps, alpha_bar_a, clip_x0)
    sigma = eta * ((1 - alpha_bar_b) / (1 - alpha_bar_a) * (1 - alpha_bar_a / alpha_bar_b)).clamp_min(0).sqrt()
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return (alpha_bar_b.sqrt() * x0_hat + (1 - alpha_bar_b - sigma ** 2).clamp_min(0).sqrt() * eps
            + sigma * noise)


def _check_grid(grid: list[int], num_train_timesteps: int, start_anywhere: bool = False) -> None:
    if ((grid[0] != 0 and not start_anywhere) or grid[0] < 0 or any(b <= a for a, b in zip(grid[:-1], grid[1:]))
            or grid[-1] >= num_train_timesteps):
        raise ValueError(f"a DDIM grid must increase strictly from 0 to at most {num_train_timesteps - 1}: {grid}")


def cleanup(predictor: NoisePredictor, images: torch.Tensor, grid: list[int], t: int,
            generator: torch.Generator) -> torch.Tensor:
    """A short renoise-and-denoise of finished samples: forward to ``t`` with fresh noise, then deterministic DDIM
    back on the generation grid. High-frequency residue below the noise level at ``t`` is replaced by what the
    model expects there; the shapes, far above it, stay."""
    return generate(predictor, renoise(images, predictor.alpha_bar(t), generator),
                         [g for g in grid if g <= t])
