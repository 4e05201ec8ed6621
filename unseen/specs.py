"""The method's typed specs: what the method's modules are told, as plain dataclasses (no omegaconf below the
entry points). The run's config is composed from them (``unseen.config`` registers them as the schema of the
``mixing``, ``prior``, ``geometry`` and ``sampler`` groups), and the entry layer turns the composed config into
them once (``config.draw_spec``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class MixingConfig:
    t_M: int = 300  # the mixing step
    # The grid 0, stride, 2 stride, ..., t_M: every t_M of a sweep lies on one grid, so the inversion
    # cache serves them all and a t_M sweep inverts once in total (t_M must be a multiple of it).
    stride: Optional[int] = 10
    # Or the paper's grid, linspace(0, t_M, steps + 1) rounded down: set `steps` and it wins over `stride`.
    steps: Optional[int] = None
    generate_steps: Optional[int] = None  # a coarser generation grid; None: the inversion grid
    reconstruct: int = 16  # references denoised back from t_M to measure the reconstruction PSNR (0: skip)


@dataclass
class PriorConfig:
    variance: str = "residual"  # scalar | residual | diagonal | pca | mixture
    components: int = 16  # pca only
    floor: float = 1e-4  # smallest std of diagonal / residual parts
    truncate: bool = False  # clamp draws to the references' per-dimension span
    bandwidth: float = 1.0  # mixture only: each component's std in units of the references' residual std
    # mixture only: a component's shape, isotropic (every dimension) or pca (along the references' first
    # `components` principal directions only: no per-pixel noise is added to a latent that holds its own)
    kernel: str = "isotropic"
    # Orthogonal transforms the domain is declared to have (unseen.symmetry), applied to every draw:
    # shift | hflip | vflip | rot90 | hue. Empty for aligned domains (faces).
    symmetries: list[str] = field(default_factory=list)
    max_shift: float = 0.15  # shift: up to this fraction of the side in each direction


@dataclass
class GeometryConfig:
    mode: str = "none"  # none | reject | optimize
    criteria: list[str] = field(default_factory=lambda: ["distance", "origin_angle", "pair_angle"])
    bandwidth: float = 1.0  # tolerance in units of the references' own spread sd_c
    subset_size: int = 10  # m, references each candidate is compared with
    candidate_batch: int = 256
    max_candidates: int = 20000
    # optimize: at most `steps` normalised gradient steps of `step_size` x the references' mean distance,
    # towards `margin` x the band (a little inside it, so the draw still passes with its own subset)
    steps: int = 200
    step_size: float = 0.05
    margin: float = 0.8


@dataclass
class SamplerConfig:
    source: str = "prior"  # prior | slerp | collage | hybrid | replay | id | paper | sdedit
    count: int = 64
    batch_size: int = 64  # latents denoised together
    # Clamp x0_hat to [-1, 1] at every generation step (diffusers' clip_sample). On for `id` (sampling from
    # pure noise, where x0_hat divides eps's error by sqrt(alpha_bar[T-1]) ~ 0.006); off for the method.
    clip_x0: bool = False
    eta: float = 0.0  # > 0: stochastic DDIM generation (the paper's first code); 0: the method's deterministic one
    eta_from: Optional[int] = None  # eta only on the steps from t <= eta_from (a stochastic tail); null: every step
    # > 0: finished samples are renoised to this t (fresh noise) and denoised again on the grid: a clean-up of
    # high-frequency residue (it must lie on the generation grid and below t_M)
    cleanup_t: int = 0
    # A mixture draw at bandwidth h is its reference's latent scaled down with isotropic noise filling its norm:
    # a latent of a later t' (alpha_bar(t') = prior.signal_scale x alpha_bar(t_M)). true: denoise it from t'
    # (the generation grid continued above t_M at its spacing), so that noise is removed instead of left as grain.
    match_noise: bool = False
    paper_points: int = 20  # source paper: slerp points per (reference, prior draw) pair
    # source collage: two references' latents joined by a random smooth mask of this many cells a side (2: halves
    # and quarters; 4: patches the size of an eye or a mouth at 32 px), which the denoiser harmonises
    collage_cells: int = 3
    collage_parts: int = 2  # source collage: how many references each sample joins
    # source hybrid: the low frequencies of one reference's latent (a Gaussian blur of this sigma, in latent pixels)
    # with the high frequencies of another's
    hybrid_sigma: float = 2.0
    # Classifier-free guidance of generation (conditional models): eps_null + guidance (eps_cond - eps_null). 1 is
    # the condition alone, what inversion always uses (exact DDIM inversion needs it); > 1 costs 2 evaluations.
    guidance: float = 1.0


@dataclass(frozen=True)
class DrawSpec:
    """What a latent source reads: the run's seed and its sampler, prior and geometry settings."""

    seed: int
    sampler: SamplerConfig
    prior: PriorConfig
    geometry: GeometryConfig
