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
    assert cfg.model.source == "builtin:tiny_ddpm" and cfg.target.domain == "smileys"
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
