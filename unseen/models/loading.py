"""``load_model``: a diffusers denoiser, its training schedule and the space it works in (pixels, or an autoencoder's
latents under a fixed condition), from the package, a folder or the hub.

A folder or hub id with a model_index.json naming an autoencoder (``vae``: AutoencoderKL, ``vqvae``: VQModel) is a
latent model: a UNet2DModel (LDM), a UNet2DConditionModel with a CLIP text encoder (Stable Diffusion) or a
``transformer`` (DiT, class-conditional). Anything else is a pixel-space UNet2DModel in ``unet/``."""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler, UNet2DModel

from unseen import registry
from unseen.errors import UserError
from unseen.models.autoencoder import Autoencoder, Pixels
from unseen.models.conditioning import Conditioning, check_condition, condition

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class LoadedModel:
    unet: torch.nn.Module  # the denoiser: a UNet2DModel, UNet2DConditionModel or DiT transformer
    alphas_cumprod: torch.Tensor  # (T,) float64
    identity: str  # content hash of the weights' identity (and autoencoder and condition), for caches keyed by model
    pretrained: str
    prediction_type: str = "epsilon"  # the scheduler's: epsilon | v_prediction | sample (converted to eps)
    space: Pixels | Autoencoder = field(default_factory=Pixels)  # where the denoiser works
    conditioning: Conditioning | None = None  # the fixed condition of a conditional model
    kind: str = "pixel"  # pixel | latent | text | class

    @property
    def resolution(self) -> int:
        """The images' size in pixels (a latent model's latents are ``space.factor`` times smaller)."""
        size = self.unet.config.sample_size
        return (size if isinstance(size, int) else size[0]) * self.space.factor

    @property
    def channels(self) -> int:
        return self.unet.config.in_channels


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise UserError(f"device={name} is not a device: use device=auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} was asked for but CUDA is not available: use device=cpu or device=auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device={name}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                        f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device={name}: unseen runs on cpu or cuda; use device=auto, cpu or cuda")
    return device


def local_config(mc, subfolder: str | None, name: str) -> dict | None:
    """A config file of the model read without the network (a built-in model or a local folder), or None."""
    if mc.pretrained is None:
        return None
    try:
        where, local = resolve_pretrained(mc.pretrained)
    except UserError:
        return None  # load_model names it
    config = Path(where) / (subfolder or "") / name
    return read_json(config) if local and config.is_file() else None


def read_json(file: Path) -> dict:
    """A model's config file, or one line naming the file that does not parse."""
    try:
        value = json.loads(Path(file).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{file} is not valid JSON ({err}): repair it or fetch the model again") from None
    if not isinstance(value, dict):
        raise UserError(f"{file} holds a {type(value).__name__}, not a JSON object: repair it or fetch the model again")
    return value


def check_files(mc, guidance: float = 1.0) -> None:
    """What the model's files say, read without its weights (a local folder, a built-in model, a hub model in the
    Hugging Face cache): the folder has what load_model needs, and the condition fits the model (model.prompt,
    model.class_label, sampler.guidance). A hub model neither cached nor reachable fails here, at once."""
    if mc.checkpoint is not None:  # converted into an unconditional pixel model
        check_condition("pixel", mc.prompt, mc.class_label, guidance, name=f"model={mc.name}")
        return
    if not str(mc.pretrained).strip():
        raise UserError("model.pretrained is empty: name a diffusers folder, a hub id (owner/name) or builtin:NAME")
    where, local = resolve_pretrained(mc.pretrained)
    if not local:
        files = _hub_files(mc)
    else:
        files = _folder_files(Path(where), mc.subfolder, mc.scheduler_subfolder)
    if files is not None:
        kind, null_class = files
        check_condition(kind, mc.prompt, mc.class_label, guidance, null_class, name=f"model={mc.name}")


def _kind(index: dict | None) -> str:
    if not index or not ({"vae", "vqvae"} & set(index)):
        return "pixel"
    return "text" if "text_encoder" in index else "class" if "transformer" in index else "latent"


def _folder_files(folder: Path, subfolder: str | None, scheduler_subfolder: str | None) -> tuple[str, int | None]:
    """(kind, DiT's null class) of a local model folder, or one line naming what it lacks."""
    convert = "convert a raw checkpoint with `python -m unseen.models.convert` (or give it as model.checkpoint=FILE)"
    if folder.is_file():
        raise UserError(f"model.pretrained {folder} is a file: a diffusers model is a folder (unet/ and scheduler/, "
                        f"or a pipeline with model_index.json); {convert}")
    index_file = folder / "model_index.json"
    index = read_json(index_file) if index_file.is_file() else None
    kind = _kind(index)
    if index is not None and kind == "pixel" and "unet" not in index:
        parts = ", ".join(k for k in index if not k.startswith("_")) or "none"
        raise UserError(f"{index_file} names a {index.get('_class_name', 'pipeline')} (parts: {parts}): unseen loads a "
                        f"pixel pipeline with unet/ and scheduler/ (DDPMPipeline) or a latent one with an autoencoder "
                        f"(vae or vqvae) and a unet or transformer")
    if kind != "pixel" and not ({"unet", "transformer"} & set(index)):
        raise UserError(f"{index_file} names an autoencoder but no denoiser (unet or transformer)")
    denoiser = "transformer" if kind == "class" else (subfolder if kind == "pixel" else "unet")
    config = folder / (denoiser or "") / "config.json"
    if not config.is_file():
        alone = denoiser and (folder / "config.json").is_file()
        raise UserError(f"model.pretrained {folder} has no {denoiser or '.'}/config.json" +
                        (": it holds a model at its top level (a UNet alone); a diffusers model folder has unet/ and "
                         "scheduler/ beside each other (model.subfolder names the UNet's)" if alone else
                         f": it must be a diffusers folder with {denoiser or '.'}/ (config.json and weights) and "
                         f"{scheduler_subfolder or '.'}/, or a pipeline folder with a model_index.json; {convert}"))
    denoiser_config = read_json(config)
    scheduler = folder / (scheduler_subfolder or "") / "scheduler_config.json"
    if not scheduler.is_file():
        raise UserError(f"model.pretrained {folder} has no {scheduler_subfolder or '.'}/scheduler_config.json: "
                        f"the DDPM schedule (alphas_cumprod) comes from it; add the scheduler the model was trained "
                        f"with (or set model.scheduler_subfolder)")
    read_json(scheduler)
    null = denoiser_config.get("num_embeds_ada_norm") if kind == "class" else None
    return kind, int(null) if null is not None else None


def _hub_files(mc) -> tuple[str, int | None] | None:
    """(kind, null class) of a hub model from the Hugging Face cache; None when it is not cached but the hub is
    reachable (loading will tell); one line when it is neither."""
    cached = _load_cached(mc.pretrained, mc.subfolder, mc.revision)
    if cached is None:
        if not _hub_reachable():
            raise UserError(offline_message(mc.pretrained))
        return None
    kind, null = _kind(cached), None  # a UNet's config (no autoencoder named) is a pixel model's
    if kind == "class":
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(mc.pretrained, "transformer/config.json", revision=mc.revision)
        null = read_json(Path(found)).get("num_embeds_ada_norm") if isinstance(found, str) else None
    return kind, null


def offline_message(pretrained: str) -> str:
    return (f"{pretrained!r} is not in the Hugging Face cache and the hub is unreachable: download it on a machine "
            f"with network (`huggingface-cli download {pretrained}`) and copy the cache (~/.cache/huggingface), or set "
            f"model.pretrained to a local folder")


def resolution(mc) -> int | None:
    """The model's image size where it is known before loading: a local config, or a checkpoint's setting."""
    if mc.checkpoint is not None:
        return mc.image_size
    index = local_config(mc, None, "model_index.json") or {}
    vae = next((local_config(mc, name, "config.json") for name in ("vae", "vqvae") if name in index), None)
    denoiser = "transformer" if "transformer" in index else mc.subfolder
    size = (local_config(mc, denoiser, "config.json") or {}).get("sample_size")
    size = size[0] if isinstance(size, (list, tuple)) else size
    return size * 2 ** (len(vae["block_out_channels"]) - 1) if size and vae else size


def check_timesteps(mc, t_M: int) -> None:
    """mixing.t_M against the schedule's length, where the model's scheduler config can be read without the
    network; otherwise the check waits for the model."""
    config = local_config(mc, mc.scheduler_subfolder, "scheduler_config.json")
    if config is None:
        return
    from unseen.method.ddim import check_t_M

    check_t_M(t_M, config.get("num_train_timesteps", 1000))


def check(mc) -> None:
    """The ``model`` group's values and files (no weights are read; a missing checkpoint is the config's to say)."""
    if (mc.pretrained is None) == (mc.checkpoint is None):
        raise UserError("set exactly one of model.pretrained (a diffusers folder, hub id or builtin:NAME) and "
                        "model.checkpoint (a raw checkpoint file)")
    if mc.checkpoint is not None and not Path(mc.checkpoint).expanduser().is_file():
        raise UserError(f"model.checkpoint {mc.checkpoint} does not exist: check the path"
                        + (f" ({mc.published})" if mc.published else ""))
    if mc.precision not in PRECISIONS:
        raise UserError(f"model.precision must be one of {', '.join(PRECISIONS)}, got {mc.precision!r}")
    if mc.batch_size < 1:
        raise UserError(f"model.batch_size must be >= 1, got {mc.batch_size}")
    if mc.checkpoint is not None and (mc.image_size < 8 or mc.num_head_channels < 1):
        raise UserError(f"model.image_size must be >= 8 and model.num_head_channels >= 1, got {mc.image_size} and "
                        f"{mc.num_head_channels}")


def resolve_pretrained(pretrained: str) -> tuple[str, bool]:
    """(path or hub id, is_local)."""
    if pretrained.startswith("builtin:"):
        name = pretrained.split(":", 1)[1]
        folder = registry.builtin_model(name)
        if not (folder / "unet").exists():
            raise UserError(f"the built-in model {name!r} is missing from {folder}: "
                            f"reinstall the package or rebuild it with `make tiny-world`")
        return str(folder), True
    path = Path(pretrained).expanduser()
    if path.exists():
        return str(path), True
    if pretrained.startswith((".", "/", "~")) or pretrained.count("/") != 1:
        raise UserError(f"model.pretrained {pretrained!r} is neither an existing folder nor a hub id (owner/name)")
    return pretrained, False


def load_model(pretrained: str, subfolder: str | None = "unet", scheduler_subfolder: str | None = "scheduler",
               revision: str | None = None, device: str | torch.device = "cpu", precision: str = "fp32",
               prompt: str = "", class_label: int | None = None, batch_size: int = 64) -> LoadedModel:
    """Load the denoiser, the alphas_cumprod of its DDPM schedule and (latent models) its autoencoder and fixed
    condition. Hub ids download once and are then read from the Hugging Face cache; with no network and no cached
    copy, fail at once and say so."""
    if precision not in PRECISIONS:
        raise UserError(f"model.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "fp32" and torch.device(device).type == "cpu":
        warnings.warn(f"model.precision={precision} on the CPU is slower than fp32 (about 2x here) and no smaller "
                      f"in what matters: use model.precision=fp32 on a CPU", stacklevel=2)
    where, local = resolve_pretrained(pretrained)
    # A hub model already in the cache loads without touching the network; one that is not fails at once
    # when the hub is unreachable, instead of after huggingface_hub's retries (~30 s).
    cached = not local and _load_cached(where, subfolder, revision) is not None
    if not local and not cached and not _hub_reachable():
        raise UserError(offline_message(pretrained))
    index = latent_index(where, local, revision, cached)
    try:
        if index is None:
            unet = UNet2DModel.from_pretrained(where, subfolder=subfolder, revision=revision, local_files_only=cached,
                                               torch_dtype=PRECISIONS[precision], low_cpu_mem_usage=False)
        else:
            parts = {name: _part(where, name, index[name], revision, cached, PRECISIONS[precision])
                     for name in _PARTS if name in index}
            unet = parts.get("unet", parts.get("transformer"))
        scheduler = DDPMScheduler.from_pretrained(where, subfolder=scheduler_subfolder, revision=revision,
                                                  local_files_only=cached)
    except (OSError, ValueError) as err:
        if local:
            raise UserError(f"could not load a diffusers {'UNet2DModel' if index is None else 'pipeline'} from "
                            f"{where} (subfolder {subfolder!r}): "
                            f"{str(err).splitlines()[0]}. model.pretrained must be a diffusers folder with "
                            f"{subfolder or '.'}/ (config.json and weights) and {scheduler_subfolder or '.'}/, or a "
                            f"pipeline folder with a model_index.json; convert a raw checkpoint with "
                            f"`python -m unseen.models.convert`") from err
        raise UserError(f"could not load {pretrained!r} from the Hugging Face hub or its local cache "
                        f"({str(err).splitlines()[0]}). Without network, download it elsewhere "
                        f"(`huggingface-cli download {pretrained}`) and copy the cache, or set model.pretrained to a "
                        f"local folder") from err
    unet = unet.to(device).eval().requires_grad_(False)
    prediction = scheduler.config.get("prediction_type", "epsilon")
    alphas = scheduler.alphas_cumprod.to(torch.float64)
    if index is None:
        check_condition("pixel", prompt, class_label, name=pretrained)
        return LoadedModel(unet, alphas, _identity(pretrained, unet, revision), pretrained, prediction)
    return _latent_model(pretrained, revision, unet, parts, alphas, prediction, prompt, class_label, device, batch_size)


_PARTS = ("unet", "transformer", "vae", "vqvae", "text_encoder", "tokenizer")


def latent_index(where: str, local: bool, revision: str | None, cached: bool) -> dict | None:
    """The model_index.json of a latent model (one that names an autoencoder), or None for a pixel model."""
    if local:
        file = Path(where) / "model_index.json"
        index = read_json(file) if file.is_file() else None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            index = json.loads(Path(hf_hub_download(where, "model_index.json", revision=revision,
                                                    local_files_only=cached)).read_text())
        except (EntryNotFoundError, OSError):
            index = None
    if index is None or not ({"vae", "vqvae"} & set(index)):
        return None
    if not ({"unet", "transformer"} & set(index)):
        raise UserError(f"{where}: model_index.json names an autoencoder but no denoiser (unet or transformer)")
    return index


def _part(where: str, name: str, entry: list, revision: str | None, cached: bool, dtype: torch.dtype):
    """One component of a pipeline folder, by the library and class model_index.json names for it."""
    import importlib

    library, cls = entry[0], entry[1]
    try:
        module = importlib.import_module(library)
    except ImportError:
        raise UserError(f"this model's {name} is a {library}.{cls}: install {library} "
                        f"(pip install 'unseen[text]')") from None
    kwargs = {"subfolder": name, "revision": revision, "local_files_only": cached}
    if name != "tokenizer":
        kwargs["torch_dtype"] = dtype
    if library == "diffusers":
        kwargs["low_cpu_mem_usage"] = False  # without accelerate: the same, minus a warning per component
    kind = getattr(module, cls, None)
    if kind is None:
        version = getattr(module, "__version__", "")
        raise UserError(f"model_index.json of {where} names {library}.{cls} for its {name}, which {library} "
                        f"{version} does not have: check the class name or upgrade {library}")
    try:
        return kind.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as err:  # the part that failed, by name (not the UNet's subfolder)
        raise UserError(f"could not load the {name} ({library}.{cls}) of {where}: {str(err).splitlines()[0]}. "
                        f"Repair or fetch {name}/ again") from err


def _latent_model(pretrained, revision, unet, parts, alphas, prediction, prompt, class_label, device, batch_size):
    """A latent model from its loaded parts: the autoencoder as its space, the fixed condition, one identity."""
    vae = (parts.get("vae") or parts["vqvae"]).to(device).eval().requires_grad_(False)
    space = Autoencoder(vae, batch_size, _identity(pretrained + ":autoencoder", vae, revision))
    kind = "text" if "text_encoder" in parts else "class" if "transformer" in parts else "latent"
    cond = condition(kind, unet, parts, prompt, class_label, device)
    identity = hashlib.sha256(json.dumps([_identity(pretrained, unet, revision), space.identity, prediction,
                                          cond.fingerprint() if cond else None]).encode()).hexdigest()[:16]
    return LoadedModel(unet, alphas, identity, pretrained, prediction, space, cond, kind)


def _load_cached(where: str, subfolder: str | None, revision: str | None) -> dict | None:
    """The cached config of a hub model (its model_index.json, or the UNet's config), or None."""
    from huggingface_hub import try_to_load_from_cache

    index = try_to_load_from_cache(where, "model_index.json", revision=revision)
    if isinstance(index, str):
        return json.loads(Path(index).read_text())
    with warnings.catch_warnings():  # diffusers passes a deprecated argument to huggingface_hub here
        warnings.simplefilter("ignore", UserWarning)
        try:
            return UNet2DModel.load_config(where, subfolder=subfolder, revision=revision, local_files_only=True)
        except (OSError, ValueError):
            return None


def _hub_reachable(timeout: float = 3.0) -> bool:
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _identity(pretrained: str, unet: UNet2DModel, revision: str | None) -> str:
    # Hash the config and a fingerprint of every tensor: retraining the built-in model or editing a
    # local checkpoint changes the identity, so caches keyed by it are never stale.
    h = hashlib.sha256(json.dumps({"source": pretrained, "revision": revision, "config": dict(unet.config)},
                                  sort_keys=True, default=str).encode())
    for name, p in unet.state_dict().items():
        # numpy's reductions, not torch's: torch sums in an order that depends on its thread count, so the same
        # weights hashed under OMP_NUM_THREADS=1 and =2 got two identities (and two inversion caches)
        flat = p.detach().float().cpu().flatten().numpy().astype(np.float64)
        h.update(name.encode())
        h.update(np.array([flat.sum(), np.abs(flat).sum(), flat[:: max(1, flat.size // 64)].sum()]).tobytes())
    return h.hexdigest()[:16]


def checkpoint_folder(checkpoint: str, kind: str, image_size: int = 256, num_head_channels: int = 64,
                      cache_dir: str | Path | None = None) -> Path:
    """The diffusers folder of a raw checkpoint: converted on first use into ``cache_dir``/models, keyed by the
    file's sha256 and the conversion options, so later runs load the converted safetensors directly."""
    from unseen.models import convert

    file = Path(checkpoint).expanduser()
    if not file.is_file():
        raise UserError(f"model.checkpoint {file} does not exist: check the path")
    if kind not in convert.KINDS:
        raise UserError(f"model.checkpoint_kind must be one of {', '.join(convert.KINDS)}, got {kind!r}")
    sha = convert.file_sha256(file)
    options = f"{kind}-{image_size}" + (f"-h{num_head_channels}" if kind == "adm" else "")
    if cache_dir is None:
        import tempfile

        log.warning("cache_dir is null: converting %s into a temporary folder (again on every run)", file)
        return convert.convert(kind, file, Path(tempfile.mkdtemp()) / "model", image_size, num_head_channels,
                               force=True)
    folder = Path(cache_dir) / "models" / f"{sha[:24]}-{options}"
    if (folder / "unet" / "config.json").is_file():
        return folder
    log.info("converting %s (%s) into %s, once", file, kind, folder)
    try:
        return convert.convert(kind, file, folder, image_size, num_head_channels, force=True)
    except OSError as err:
        if (folder / "unet" / "config.json").is_file():  # another job converted it at the same moment
            return folder
        raise UserError(f"cannot write the converted model to {folder} ({err}): check cache_dir") from err
