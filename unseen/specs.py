"""The run's typed specs: the schema of every config group, as plain dataclasses (no omegaconf here or below).

``unseen.job.config`` registers ``Config`` as the schema the YAML under conf/ is merged into (a typo in a key, or a
string where a number belongs, fails at composition); the entry points (the CLI and the API) check the composed
config and turn it into a ``Config`` once (``config.to_spec``). Everything below them (the pipeline, its stages,
the method, the models, evaluation) is told by these dataclasses and tensors only. ``DrawSpec`` is the part a
latent source reads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

MISSING = "???"  # omegaconf's marker of a value the user must give (model.checkpoint, output_dir)


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
    # Orthogonal transforms the domain is declared to have (unseen.method.symmetry), applied to every draw:
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


@dataclass
class ModelConfig:
    name: str = MISSING
    # "builtin:tiny_ddpm", a hub id (google/ddpm-celebahq-256) or a local diffusers folder (what diffusers'
    # from_pretrained takes); or None with `checkpoint`
    pretrained: Optional[str] = None
    source: Optional[str] = None  # the old name of `pretrained`: still read, with one line (unseen.job.choices)
    # A raw checkpoint of the paper's (adm: guided-diffusion; ddpm: the original DDPM), converted on first use into
    # the cache (keyed by the file's sha256) and loaded from there: see `python -m unseen.models.convert`. Required
    # (MISSING) unless a model config says `checkpoint: null`: OmegaConf cannot merge "???" over a default.
    checkpoint: Optional[str] = MISSING
    checkpoint_kind: Optional[str] = None  # adm | ddpm
    image_size: int = 256  # what the checkpoint's weights cannot say: its resolution ...
    num_head_channels: int = 64  # ... and (adm) the channels per attention head
    published: Optional[str] = None  # where the checkpoint file is published, for the error when it is missing
    subfolder: Optional[str] = "unet"  # where the UNet2DModel lives inside `source`
    scheduler_subfolder: Optional[str] = "scheduler"
    revision: Optional[str] = None
    batch_size: int = 64  # images per UNet call
    precision: str = "fp32"  # fp32 | bf16 | fp16 (the UNet only: DDIM arithmetic stays float64)
    # GPU options, off by default until measured on the GPU they are meant for (README, "Real models"). Each
    # changes the UNet's arithmetic order, so it is part of the inversion cache's key.
    channels_last: bool = False  # the UNet's weights in channels-last memory format
    compile: bool = False  # torch.compile the UNet (the first calls pay the compilation)
    # Conditional models (docs/design.md, "latent models"): the fixed condition every latent is inverted and
    # denoised under. A text model's prompt ("" : the empty prompt); a class-conditional model's class (null:
    # its null class).
    prompt: str = ""
    class_label: Optional[int] = None


@dataclass
class TargetConfig:
    name: str = MISSING
    kind: str = "tiny"  # tiny (a built-in domain) | folder (a folder of images)
    domain: Optional[str] = None  # tiny: one of unseen.worlds.tiny.DOMAINS
    category: Optional[str] = None  # emoji: faces | flags | people | hearts (unseen.worlds.emoji.data.TARGETS)
    path: Optional[str] = None  # folder: where the images are
    eval_path: Optional[str] = None  # folder: score against this folder instead (e.g. all of FFHQ), references excluded
    num_references: int = 64  # K, the images that are inverted
    num_eval: Optional[int] = 256  # held-out images the samples are scored against (never the references); null: all
    seed: int = 0  # tiny: image stream; folder: the seeded split into references and held-out images
    # folder: what makes files one identity, kept on one side of the split (several photos of one subject):
    # null (each file its own), folder (the sub-folder a file is in) or a regex on the file name (its first group)
    group_by: Optional[str] = None


@dataclass
class EvalConfig:
    # none | domain (the tiny world's classifier) | inception (torch-fidelity's FID net) | unet (the model's own h-space)
    feature: str = "domain"
    inception_weights: Optional[str] = None  # a local pt_inception-2015-12-05-6726825d.pth
    kid_subset: int = 50
    kid_subsets: int = 100
    # Samples kept in memory for the pixel-space diversity (mean pairwise distance) and the grid: the first N of
    # the run (an unbiased subset: samples are exchangeable). Everything else is scored as it is made.
    pixel_samples: int = 512
    # Memorisation also in the UNet's middle-block space (one UNet call per sample at t = 0): every model has it.
    unet_memorisation: bool = True
    pr_k: int = 3  # the k of improved precision and recall
    # The few-shot measures (unseen.evaluation.fewshot: intra-cluster diversity, nearest-reference copies) are always
    # computed in the feature space above; in LPIPS too with lpips=true, or null: where its weights are found.
    lpips: Optional[bool] = False
    lpips_weights: Optional[str] = None  # torchvision's alexnet-owt-7be5be79.pth (default: torch's hub cache)
    per_cluster: int = 50  # samples a cluster keeps for its intra-cluster diversity


@dataclass
class AutoConfig:
    """experiment=auto: choose t_M and the latent source from the references alone (unseen.job.auto)."""

    enabled: bool = False
    t_M: list[int] = field(default_factory=lambda: [100, 200, 300, 400, 500])  # multiples of mixing.stride
    # name -> overrides that make the candidate source (see conf/experiment/auto.yaml)
    candidates: dict[str, list[str]] = field(default_factory=dict)
    holdout: float = 0.25  # fraction of the K references the candidates are scored against (never fitted)
    count: int = 32  # samples per candidate that reaches the last rung
    eta: int = 3  # successive halving: each rung keeps the best 1/eta with eta times the samples; 1: no halving
    by: Optional[str] = None  # what turned the choice on (experiment=auto, or a world's default: conf/world/)
    note: Optional[str] = None  # what the choice did with the user's own values (unseen.job.choices): logged and kept
    penalty: float = 5.0  # weight of each violation below
    max_memorised: float = 0.1  # a fraction of samples nearer a fitting reference than half its NN distance
    # redraws of the fitting references (unseen.evaluation.redraw) allowed above the validation references' own rate
    max_redraw_excess: float = 0.1
    min_diversity: float = 0.8  # samples' mean pairwise distance over the validation references' (features, pixels)


@dataclass
class LoggerConfig:
    name: str = "none"  # none | wandb
    project: str = "unseen"
    entity: Optional[str] = None
    mode: str = "offline"  # offline | online | disabled
    group: Optional[str] = None  # None: the sweep's folder in a multirun
    tags: list[str] = field(default_factory=list)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    mixing: MixingConfig = field(default_factory=MixingConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    auto: AutoConfig = field(default_factory=AutoConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    output_dir: str = MISSING  # where the run's results go (the Hydra run directory by default)
    cache_dir: Optional[str] = ".cache/unseen"  # shared by runs: inversions and evaluation features (None: off)
    # Inversion points kept on disk: N keeps the multiples of N (plus the final and the furthest point, for
    # resuming), so a t_M sweep on multiples of N still inverts once; 1 keeps every point. None: automatic, every
    # point up to 64 px, multiples of 100 above (256 px: ~0.8 MB per image and point, 70 GB for K = 1000 and a
    # stride-10 walk to 900 if every point were kept).
    cache_keep: Optional[int] = None
    cache_max_gb: Optional[float] = None  # fail with a clear message rather than fill the disk
    save_latents: bool = True
    progress: bool = True
    # The keys the user set (command line, API overrides, a sweep's values, the presets and method choices the user
    # named), filled by the entry points (unseen.job.choices): a default layer's choice never replaces them.
    user_set: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DrawSpec:
    """What a latent source reads: the run's seed and its sampler, prior and geometry settings."""

    seed: int
    sampler: SamplerConfig
    prior: PriorConfig
    geometry: GeometryConfig


def draw_spec(cfg: Config) -> DrawSpec:
    """What a latent source is told: the run's seed and its sampler, prior and geometry settings."""
    return DrawSpec(seed=int(cfg.seed), sampler=cfg.sampler, prior=cfg.prior, geometry=cfg.geometry)


def varied(cfg: Config, t_M: int | None = None, count: int | None = None, num_references: int | None = None) -> Config:
    """A copy of ``cfg`` with its mixing step, sample count or reference count changed (experiment=auto's
    variations of a candidate: each value one the entry points checked), every other value shared."""
    out = dataclasses.replace(cfg)
    if t_M is not None:
        out.mixing = dataclasses.replace(cfg.mixing, t_M=int(t_M))
    if count is not None:
        out.sampler = dataclasses.replace(cfg.sampler, count=int(count))
    if num_references is not None:
        out.target = dataclasses.replace(cfg.target, num_references=int(num_references))
    return out
