import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from tests.helpers import CONF, make_cfg

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
# Groups of config.yaml's defaults list are chosen with group=choice; the others (world: a world's defaults, which
# its target selects) are added with +group=choice.
PRIMARY = {next(iter(d)) for d in OmegaConf.to_container(OmegaConf.load(CONF / "config.yaml").defaults)
           if isinstance(d, dict)}


@pytest.mark.parametrize("group,choice", [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))])
def test_every_choice_composes(group, choice):
    cfg = make_cfg([f"{'' if group in PRIMARY else '+'}{group}={choice}"], output_dir="/tmp/x", small=False)
    assert OmegaConf.is_config(cfg) and cfg.output_dir == "/tmp/x"


def test_defaults_are_the_tiny_world_job():
    cfg = make_cfg(output_dir="/tmp/x", small=False)
    assert cfg.model.pretrained == "builtin:tiny_ddpm" and cfg.target.domain == "smileys"
    assert cfg.target.num_references == 64 and cfg.sampler.count == 64 and cfg.sampler.source == "prior"


def test_schema_catches_typos_and_wrong_types():
    with pytest.raises(ConfigCompositionException):
        make_cfg(["mixing.tM=300"], output_dir="/tmp/x")
    with pytest.raises(ConfigCompositionException):
        make_cfg(["mixing.t_M=three"], output_dir="/tmp/x")


def test_unknown_choice_keeps_hydras_message():
    with pytest.raises(ConfigCompositionException, match="Could not find 'target/faces'"):
        make_cfg(["target=faces"], output_dir="/tmp/x")


PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# Tiny counts for every preset; the paper's presets (scalar prior + rejection, K = 1000) run on the tiny world with
# a wide band: at bandwidth 1 no scalar draw passes there (README, "What works"), which is a result, not a bug.
TINY = ["target.num_references=12", "target.num_eval=8", "sampler.count=2", "sampler.batch_size=2",
        "mixing.reconstruct=1", "logger=none", "progress=false"]
WIDE = {"paper_v1": ["geometry.bandwidth=1000"], "paper_v2": ["geometry.bandwidth=1000"],
        "auto": ["auto.count=2", "auto.t_M=[20,40]"]}


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_experiment_preset_runs_with_tiny_counts(preset, tmp_path):
    from tests.helpers import run

    cfg = make_cfg([f"experiment={preset}", *TINY, *WIDE.get(preset, [])], output_dir=str(tmp_path / "run"),
                   small=False)
    metrics = run(cfg)
    assert metrics["samples"]["count"] == 2 and (tmp_path / "run" / "metrics.json").is_file()


def test_the_typed_config_holds_what_was_composed(tmp_path):
    """config.to_spec: the composed config as unseen.specs' dataclasses, every value the same (compared as the two
    containers), interpolations resolved; a config made by with_overrides (a plain one) too."""
    import dataclasses

    from unseen import specs
    from unseen.job.config import to_spec, with_overrides

    cfg = make_cfg(["experiment=auto", "prior.symmetries=[hflip]"], output_dir=str(tmp_path))
    spec = to_spec(cfg)
    assert isinstance(spec, specs.Config) and isinstance(spec.prior, specs.PriorConfig)
    assert dataclasses.asdict(spec) == OmegaConf.to_container(cfg, resolve=True)
    plain = with_overrides(cfg, ["mixing.t_M=200"])
    assert not OmegaConf.is_config(to_spec(plain)) and to_spec(plain).mixing.t_M == 200
    assert specs.draw_spec(spec) == specs.DrawSpec(cfg.seed, spec.sampler, spec.prior, spec.geometry)


def test_a_renamed_key_is_read_with_one_line(caplog):
    """model.source is now model.pretrained: the old key still works, wins over the model config's value, and says
    the new name once."""
    import logging

    import unseen

    with caplog.at_level(logging.WARNING, logger="unseen"):
        cfg = unseen.compose("model.source=builtin:tiny_ldm", say=True)
    assert cfg.model.pretrained == "builtin:tiny_ldm" and cfg.model.source is None
    assert "model.pretrained" in cfg.user_set and "model.source" not in cfg.user_set
    lines = [r.getMessage() for r in caplog.records if "model.source" in r.getMessage()]
    assert lines == ["model.source is now model.pretrained: read as model.pretrained=builtin:tiny_ldm (the old name "
                     "will go)"]
