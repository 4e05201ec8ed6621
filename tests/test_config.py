import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from tests.helpers import CONF, make_cfg

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())


@pytest.mark.parametrize("group,choice", [(g, f.stem) for g in GROUPS for f in sorted((CONF / g).glob("*.yaml"))])
def test_every_choice_composes(group, choice):
    cfg = make_cfg([f"{group}={choice}"], output_dir="/tmp/x", small=False)
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
