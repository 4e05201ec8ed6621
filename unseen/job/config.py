"""The config, at the entry points only: composition (``compose``, shared by the CLI and the Python API) against
the schema of unseen.specs (registered here, so a typo in a key or a string where a number belongs fails at
composition with Hydra's own message), overrides, and ``to_spec``: the composed config turned once into the typed
``Config`` everything below the entry points reads."""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from unseen.errors import ConfigError
from unseen.specs import Config


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
    package = Path(__file__).resolve().parents[1]  # unseen/
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


def to_spec(cfg: DictConfig) -> Config:
    """The composed (and checked) config of a job as the typed ``Config``, its interpolations resolved (one made by
    ``with_overrides`` is merged into the schema first)."""
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))


def candidate_specs(cfg: DictConfig) -> dict[str, Config]:
    """experiment=auto's candidates (``auto.candidates``: name -> overrides) as whole typed configs, auto off in
    each: what unseen.job.auto varies (checked as runs of their own by unseen.job.checks)."""
    return {name: to_spec(with_overrides(cfg, [*overrides, "auto.enabled=false"]))
            for name, overrides in cfg.auto.candidates.items()}


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
