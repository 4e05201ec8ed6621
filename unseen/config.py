"""Structured configs: the schema every YAML under conf/ is merged into, so a typo in a key or a
string where a number belongs fails at composition, with Hydra's own message; and composition itself
(``compose``), shared by the CLI and the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from unseen.errors import ConfigError
from unseen.specs import DrawSpec, GeometryConfig, MixingConfig, PriorConfig, SamplerConfig


@dataclass
class ModelConfig:
    name: str = MISSING
    # "builtin:tiny_ddpm", a hub id (google/ddpm-celebahq-256) or a local diffusers folder; or None with `checkpoint`
    source: Optional[str] = None
    # A raw checkpoint of the paper's (adm: guided-diffusion; ddpm: the original DDPM), converted on first use into
    # the cache (keyed by the file's sha256) and loaded from there: see `python -m unseen.convert`. Required
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
    domain: Optional[str] = None  # tiny: one of unseen.world.DOMAINS
    category: Optional[str] = None  # emoji: faces | flags | people | hearts (unseen.world.emoji.data.TARGETS)
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
    # The few-shot measures (unseen.fewshot: intra-cluster diversity, nearest-reference copies) are always
    # computed in the feature space above; in LPIPS too with lpips=true, or null: where its weights are found.
    lpips: Optional[bool] = False
    lpips_weights: Optional[str] = None  # torchvision's alexnet-owt-7be5be79.pth (default: torch's hub cache)
    per_cluster: int = 50  # samples a cluster keeps for its intra-cluster diversity


@dataclass
class AutoConfig:
    """experiment=auto: choose t_M and the latent source from the references alone (unseen.auto)."""

    enabled: bool = False
    t_M: list[int] = field(default_factory=lambda: [100, 200, 300, 400, 500])  # multiples of mixing.stride
    # name -> overrides that make the candidate source (see conf/experiment/auto.yaml)
    candidates: dict[str, list[str]] = field(default_factory=dict)
    holdout: float = 0.25  # fraction of the K references the candidates are scored against (never fitted)
    count: int = 32  # samples per candidate that reaches the last rung
    eta: int = 3  # successive halving: each rung keeps the best 1/eta with eta times the samples; 1: no halving
    by: Optional[str] = None  # what turned the choice on (experiment=auto, or a world's default: conf/world/)
    note: Optional[str] = None  # what the choice did with the user's own values (unseen.choices): logged and kept
    penalty: float = 5.0  # weight of each violation below
    max_memorised: float = 0.1  # a fraction of samples nearer a fitting reference than half its NN distance
    # redraws of the fitting references (unseen.redraw) allowed above the validation references' own rate
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
    # named), filled by the entry points (unseen.choices): a default layer's choice never replaces them.
    user_set: list[str] = field(default_factory=list)


def register() -> None:
    ConfigStore.instance().store(name="unseen_schema", node=Config)


def unknown_keys(cfg: DictConfig) -> list[str]:
    """Keys of ``cfg`` the schema does not know (a ``+model.foo=1`` typo); the free-form maps are skipped."""
    import dataclasses

    def walk(node: dict, schema, prefix: str) -> list[str]:
        fields = {f.name: f for f in dataclasses.fields(schema)}
        out = []
        for key, value in node.items():
            path = f"{prefix}{key}"
            if key not in fields:
                out.append(path)
            elif isinstance(value, dict) and dataclasses.is_dataclass(fields[key].default_factory()
                                                                      if callable(fields[key].default_factory)
                                                                      else None):
                out += walk(value, fields[key].default_factory, path + ".")
        return out

    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    return walk(container, Config, "")


def conf_dir() -> Path:
    """The config groups: ``conf/`` at the checkout's top level, installed by the build as ``unseen/conf``."""
    package = Path(__file__).resolve().parent
    installed = package / "conf"
    return installed if (installed / "config.yaml").is_file() else package.parent / "conf"


def compose(overrides: list[str], hydra_part: bool = False) -> DictConfig:
    """The job's config as Hydra composes it (``hydra_part``: with Hydra's own keys, as the CLI sees them),
    or a ConfigError with one line naming the fix."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return hydra_compose("config", overrides=list(overrides), return_hydra_config=hydra_part)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(one_line(err)) from err


# Groups whose choice is the user's choice of method values: a key their YAML sets counts as set by the user when
# the user names the choice. A target's, model's, eval's or logger's YAML says where things are and carries the
# defaults that go with them (a target's num_references): those stay defaults.
METHOD_GROUPS = ("experiment", "mixing", "prior", "geometry", "sampler")


def user_keys(overrides: list[str]) -> list[str]:
    """The dotted keys ``overrides`` set: each ``key=value`` (+, ++ and ~ too), and each key a method group's
    choice the user named sets (its YAML, and the choices its defaults override)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides([o for o in overrides if isinstance(o, str)])
    except HydraException:
        return []  # composition names it
    keys: set[str] = set()
    for o in parsed:
        key = o.key_or_group
        group = key.split("@", 1)[0]
        if (conf_dir() / group).is_dir():
            if group in METHOD_GROUPS and not o.is_sweep_override() and isinstance(o.value(), str):
                keys |= _choice_keys(group, o.value())
        elif not key.startswith("hydra"):
            keys.add(key)
    return sorted(keys)


def _choice_keys(group: str, choice: str) -> set[str]:
    import yaml

    file = conf_dir() / group / f"{choice}.yaml"
    if not file.is_file():
        return set()
    text = file.read_text()
    node = yaml.safe_load(text) or {}
    global_package = any(line.strip() == "# @package _global_" for line in text.splitlines()[:3])
    prefix = "" if global_package else group + "."
    keys: set[str] = set()
    for entry in node.pop("defaults", []) or []:
        if isinstance(entry, dict):  # override /prior: scalar
            for k, v in entry.items():
                name = k.removeprefix("override ").strip().lstrip("/")
                if name in METHOD_GROUPS and isinstance(v, str):
                    keys |= _choice_keys(name, v)

    def leaves(value, path):
        if isinstance(value, dict) and value:
            for k, v in value.items():
                leaves(v, f"{path}{k}.")
        else:
            keys.add(path.rstrip("."))

    leaves(node, prefix)
    keys.discard("")
    return keys


def draw_spec(cfg: DictConfig) -> DrawSpec:
    """What a source is told, made once from the run's config: typed, and valid by construction (an unknown key
    is a TypeError here, not a silent attribute later)."""
    def typed(cls, node):
        return cls(**OmegaConf.to_container(node, resolve=True))

    return DrawSpec(seed=int(cfg.seed), sampler=typed(SamplerConfig, cfg.sampler), prior=typed(PriorConfig, cfg.prior),
                    geometry=typed(GeometryConfig, cfg.geometry))


def with_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """A copy of ``cfg`` with ``key=value`` overrides (values parsed as YAML, as on the command line)."""
    # Unresolved: before Hydra starts (the CLI's precheck) ${hydra:...} cannot be resolved yet.
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra", None)
    out = OmegaConf.create(container)
    apply_overrides(out, overrides)
    return out


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> None:
    """``key=value`` overrides set in ``cfg`` itself, each value parsed as YAML (as on the command line)."""
    import yaml

    for item in overrides:
        key, value = item.split("=", 1)
        OmegaConf.update(cfg, key, yaml.safe_load(value), merge=False)


def _reason(cause: BaseException | None) -> str:
    if cause is None or not str(cause).strip():
        return ""
    return " ".join(line.strip() for line in str(cause).splitlines()
                    if line.strip() and not line.strip().startswith(("full_key:", "object_type=", "reference_type=")))


def one_line(err: BaseException) -> str:
    """Hydra's and OmegaConf's multi-line messages, as one line that keeps the valid choices."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text, options, in_options = [], [], False
    for line in lines:
        if line.startswith("Available options in"):
            in_options = True
        elif line.startswith("Config search path"):
            break
        elif in_options:
            options.append(line)
        elif not line.startswith(("full_key:", "object_type=", "reference_type=")):
            text.append(line)
    message, reason = " ".join(text).removeprefix("In 'config': "), _reason(err.__cause__)
    if reason and reason not in message:
        message = f"{message}: {reason}"
    if options:
        message += f"; valid choices: {', '.join(options)}"
    if message.startswith("Could not override"):
        key = message.split("'")[1]
        message = (f"unknown config key {key!r} ({reason or message}): check its spelling; "
                   f"`python run.py --cfg job` prints every key")
    return message
