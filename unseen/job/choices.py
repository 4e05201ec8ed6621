"""What a default may choose: a value the user set is never replaced by a default layer's choice.

The entry points (the CLI, each Hydra job, the API) call ``settle`` once on the composed config with the
user's overrides. It records which keys the user set (``user_set``, from ``config.user_keys``), then:

- a choice a default layer turned on (the emoji world's t_M choice, conf/world/emoji.yaml) chooses only what the
  user left open: given ``mixing.t_M`` it chooses no t_M; its candidates keep the user's own ``prior.*``,
  ``sampler.*`` and ``geometry.*`` values; left with nothing to choose, it steps aside. One info line says so;
- ``experiment=auto``, which the user names to have things chosen, replaces the user's values it varies, and
  one warning line names them;
- a folder target at its defaults that is too small for its default K gets a smaller K (half the folder), with a
  warning; a K the user set is kept, and the checks name the numbers that would work.

What was decided goes into the config itself (``auto.by``, ``auto.note``, ``user_set``), so config.yaml and
metrics.json record what ran and what made each choice.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf, open_dict

from unseen.job.config import apply_overrides, user_keys

log = logging.getLogger("unseen")

MIN_REFERENCES, MIN_HELD_OUT = 2, 2  # the smallest folder that can be run and scored holds their sum


def settle(cfg: DictConfig, overrides: list[str], say: bool = False) -> DictConfig:
    """``cfg`` with the user's keys recorded and every default choice settled as the module says; ``say``: log
    what was decided (once per run: the Hydra job, the API; not the CLI's precheck)."""
    _refuse_empty_merge(overrides)
    keys = user_keys(overrides)
    with open_dict(cfg):
        keys = read_renamed(cfg, keys, say)
        cfg.user_set = keys
        _settle_folder(cfg, set(keys), say)  # first: the K it may lower bounds what the default collage joins
        _settle_auto(cfg, set(keys))
    if say:
        _warn_unused_prior(cfg, overrides)
    if say and cfg.auto.note:
        replaced = cfg.auto.enabled and "auto.enabled" in keys
        (log.warning if replaced else log.info)("%s", cfg.auto.note)
    return cfg


RENAMED = {"model.source": "model.pretrained"}  # old key -> new key: the old one is still read, with one line


def read_renamed(cfg: DictConfig, keys: list[str], say: bool) -> list[str]:
    """A renamed key's value (``model.source=...`` on the command line, or in a model config of yours) moved to its
    new key, where it wins over the new key's default; ``say``: one line naming the new key. Returns ``keys`` (the
    user's) with the new names."""
    for old, new in RENAMED.items():
        value = OmegaConf.select(cfg, old)
        if value is None:
            continue
        if say:
            log.warning("%s is now %s: read as %s=%s (the old name will go)", old, new, new, value)
        OmegaConf.update(cfg, new, value, merge=False)
        OmegaConf.update(cfg, old, None, merge=False)
        keys = sorted({new if k == old else k for k in keys})
    return keys


def _refuse_empty_merge(overrides: list[str]) -> None:
    """``auto.candidates={}`` merges an empty map into the preset's: it removes nothing, and the run would score
    every candidate the user meant to drop."""
    from unseen.errors import UserError

    for o in overrides:
        key, _, value = str(o).lstrip("+").partition("=")
        if key == "auto.candidates" and value.replace(" ", "") in ("{}", "null"):
            raise UserError(f"{o} removes no candidate (a map on the command line is merged into the preset's): drop "
                            f"one with ~auto.candidates.NAME, or add your own with +auto.candidates.NAME='[key=value]'")


def _candidate_keys(cfg: DictConfig) -> set[str]:
    return {o.split("=", 1)[0] for overrides in cfg.auto.candidates.values() for o in overrides}


def _settle_auto(cfg: DictConfig, keys: set[str]) -> None:
    a = cfg.auto
    if a.enabled and "auto.enabled" in keys:  # the user named the choice: it may replace their values, says which
        _named_by_user(cfg, keys)
        return
    if not a.by:
        return  # no choice at all (auto.enabled=false everywhere)
    by = a.by
    varied = ({"mixing.t_M"} | _candidate_keys(cfg)) & keys
    # a prior you set means the prior drawn, whatever source the default's candidates prefer
    implied = any(k.startswith("prior.") for k in keys) and "sampler.source" not in keys \
        and "sampler.source" in _candidate_keys(cfg)
    strip = keys | ({"sampler.source"} if implied else set())
    own = {name: [o for o in overrides if o.split("=", 1)[0] not in strip] for name, overrides in a.candidates.items()}
    # a candidate that lost its source to yours is your settings: its other keys were its source's
    renamed = {name: _renamed(name, a.candidates[name], v) for name, v in own.items()}
    a.candidates = {renamed[name]: [] if renamed[name] != name else _few_references(cfg, v)
                    for name, v in own.items()}
    yours = varied | ({k for k in keys if k.startswith("prior.")} if implied else set())
    kept = ", ".join(f"{k}={_value(cfg, k)}" for k in sorted(yours)) + \
        (f" (and so sampler.source={cfg.sampler.source}, the prior drawn)" if implied else "")
    if "mixing.t_M" in keys:
        a.t_M = [cfg.mixing.t_M]
    alone = len({tuple(v) for v in a.candidates.values()}) <= 1
    if a.enabled and not (len(a.t_M) == 1 and alone):
        a.note = f"{by} chooses only what you left open: it keeps your {kept}" if yours else None
        return
    # the choice does not run (you turned it off, or left it nothing to choose): its one candidate is still the
    # default layer's setting for what you left open, and runs
    rest = next(iter(a.candidates.values()), []) if alone else []
    apply_overrides(cfg, rest)
    default = f"with the default's {', '.join(rest)} " if rest else ""
    if not a.enabled:
        a.note = f"{by} is off (auto.enabled=false): the run uses t_M {cfg.mixing.t_M} {default}".rstrip() \
            if rest else None
        return
    a.enabled = False
    a.note = (f"{by} stepped aside: you set {kept}, which leaves it nothing to choose; the run uses your values "
              f"{default}(experiment=auto chooses them for you)")


def _named_by_user(cfg: DictConfig, keys: set[str]) -> None:
    a = cfg.auto
    a.by = a.by or "auto.enabled=true"
    varied = ({"mixing.t_M"} | _candidate_keys(cfg)) & keys
    if varied:
        a.note = (f"{a.by} chooses {', '.join(sorted({'mixing.t_M'} | _candidate_keys(cfg)))} itself and "
                  f"replaces your own {', '.join(f'{k}={_value(cfg, k)}' for k in sorted(varied))}; drop "
                  f"{a.by} to run your values as given")


def _few_references(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """A default's collage of more references than auto fits on (a small K) joins as many as there are, said in
    the log: the default must run at any K the target allows."""
    from unseen.job.auto import split_sizes

    fitting = split_sizes(cfg.target.num_references, cfg.auto.holdout)[0]
    out = []
    for o in overrides:
        key, _, value = o.partition("=")
        if key == "sampler.collage_parts" and str(value).isdigit() and int(value) > max(2, fitting):
            log.info("the default's %s lowered to %d: auto fits on %d references", o, max(2, fitting), fitting)
            o = f"{key}={max(2, fitting)}"
        out.append(o)
    return out


def _renamed(name: str, before: list[str], after: list[str]) -> str:
    """A candidate that lost its source, or everything, to the user's values is the user's settings, not itself."""
    source = [o for o in before if o.startswith("sampler.source=")]
    return "your settings" if (source and source[0] not in after) or (before and not after) else name


PRIOR_SOURCES = ("prior", "paper")  # the sources that fit and draw from the prior


def _warn_unused_prior(cfg: DictConfig, overrides: list[str]) -> None:
    """The user's prior overrides (prior=..., prior.*=...) that no source of this run draws from: said, not
    silently dropped."""
    mine = [str(o) for o in overrides if str(o).lstrip("+~").split("=", 1)[0].split(".", 1)[0] == "prior"]
    if not mine:
        return
    sources = {cfg.sampler.source}
    if cfg.auto.enabled:
        sources = {next((o.split("=", 1)[1] for o in v if o.startswith("sampler.source=")), cfg.sampler.source)
                   for v in cfg.auto.candidates.values()}
    if not sources & set(PRIOR_SOURCES):
        log.warning("%s has no effect: sampler.source=%s draws no prior; sampler=prior draws from it",
                    " ".join(mine), "/".join(sorted(sources)))


def _value(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


def _settle_folder(cfg: DictConfig, keys: set[str], say: bool) -> None:
    """A small target at its defaults (a folder, an emoji category): K lowered to half of it when the default K
    would leave too few held out. A K the user set is kept (the checks then name numbers that work)."""
    t = cfg.target
    if t.eval_path or "target.num_references" in keys:
        return
    n = _target_size(cfg)
    if n is None:
        return
    held_out = MIN_HELD_OUT if t.num_eval is None else t.num_eval
    if t.num_references + held_out <= n:
        return
    k = n // 2 if t.num_eval is None else n - t.num_eval
    if k < MIN_REFERENCES:
        return  # too small whatever K: the checks name the floor
    if say:
        log.warning("target.num_references lowered from %d to %d: the target holds %d images and %s; set "
                    "target.num_references to choose K yourself", t.num_references, k, n,
                    "the rest are held out to score the samples" if t.num_eval is None else
                    f"target.num_eval = {t.num_eval} are held out")
    t.num_references = k


def _target_size(cfg: DictConfig) -> int | None:
    from unseen import registry
    from unseen.data import image_files
    from unseen.errors import UserError

    t = cfg.target
    if t.kind == "folder":
        try:
            return len(image_files(t.path, quiet=True)) if t.path else None
        except UserError:
            return None  # the checks name it
    size = registry.target_size(t.kind)
    return size(t, cfg.cache_dir) if size is not None else None
