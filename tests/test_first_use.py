"""What a new user meets first: folders at their defaults, checks before any folder, and messages that name the
real cause and the fix (issue 28's list)."""

from pathlib import Path

import pytest
import torch

from tests.helpers import CLI_SMALL as SMALL
from tests.helpers import assert_one_line_error, cli_here, random_images
from unseen.errors import UserError


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    from tests.helpers import make_packages

    return make_packages(tmp_path_factory.mktemp("emoji"))


class Pickled:
    """A class a pickled checkpoint would need to import: what a weights-only load refuses."""


def a_finished_run(folder: Path) -> Path:
    random_images(folder / "samples", 4)
    (folder / ".unseen-run.json").write_text('{"files": []}')
    return folder


CASES = {  # overrides (DIR: 8 images; RUN: a finished run's folder; PKG: a made emoji package) -> the one line
    "one held-out image": (["target.num_eval=1"], "scoring the samples needs at least 2 held-out images"),
    "no held-out image, scored": (["target.num_eval=0"], "or eval=none to skip scoring"),
    "a t_M twice": (["experiment=auto", "auto.t_M=[100,100]"], "auto.t_M lists 100 more than once"),
    "an empty candidate map": (["experiment=auto", "auto.candidates={}"], "removes no candidate"),
    "emoji K above the category": (["target=emoji", "target.path=PKG", "target.num_references=20"],
                                   "the emoji category 'faces' holds only 10 images"),
    "a cache folder on the command line": (["cache_dir=/proc/unseen-cache"], "cannot write the cache folder cache_dir "
                                                                             "/proc"),
    "output inside the target": (["target=folder", "target.path=DIR", "hydra.run.dir=DIR/out"],
                                 "is inside target.path"),
    "a target inside a run folder": (["target=folder", "target.path=RUN/samples"], "is inside unseen's run folder"),
    "output is the target": (["target=folder", "target.path=DIR", "hydra.run.dir=DIR"], "holds files no unseen run"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_before_any_folder(case, tmp_path, capsys, monkeypatch, packages):
    overrides, match = CASES[case]
    places = {"DIR": str(random_images(tmp_path / "dir", 8)), "RUN": str(a_finished_run(tmp_path / "earlier")),
              "PKG": str(packages)}
    for name, path in places.items():
        overrides = [o.replace(name, path) for o in overrides]
    if not any(o.startswith("hydra.run.dir=") for o in overrides):
        overrides.append(f"hydra.run.dir={tmp_path}/run")
    proc = cli_here(*SMALL, *overrides, capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, match)
    assert "$UNSEEN_CACHE" not in proc.stderr
    assert not (tmp_path / "run").exists() and not (tmp_path / "dir" / "out").exists()


def test_a_symlink_loop_reads_each_image_once(tmp_path):
    from unseen.data import folder_split, image_files

    folder = random_images(tmp_path / "faces", 6)
    (folder / "self").symlink_to(".")
    (folder / "again").symlink_to(folder)
    files = image_files(str(folder))
    assert [f.name for f in files] == [f"img{i:03d}.png" for i in range(6)]
    refs, held = folder_split(str(folder), 3, None, 0)
    assert not {f.resolve() for f in refs} & {f.resolve() for f in held} and len(refs) + len(held) == 6


@pytest.mark.parametrize("n, k", [(5, 2), (20, 10), (217, 64)])
def test_a_folder_at_its_defaults_runs_with_every_other_image_held_out(tmp_path, n, k, caplog):
    from unseen.job.api import compose
    from unseen.job.checks import preflight

    folder = random_images(tmp_path / "mine", n)
    with caplog.at_level("WARNING"):
        cfg = compose("target=folder", f"target.path={folder}", say=True, output_dir=tmp_path / "run")
    preflight(cfg)  # what the CLI checks before Hydra makes a folder: it passes
    assert cfg.target.num_references == k and cfg.target.num_eval is None
    assert (f"lowered from 64 to {k}" in caplog.text) == (k != 64)


def test_a_folder_too_small_names_the_floor_and_a_set_K_names_what_works(tmp_path, capsys, monkeypatch):
    proc = cli_here("target=folder", f"target.path={random_images(tmp_path / 'three', 3)}", f"hydra.run.dir={tmp_path}/r",
                    capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, "the smallest that can be run and scored holds 4")
    proc = cli_here("target=folder", f"target.path={random_images(tmp_path / 'twenty', 20)}", "target.num_references=64",
                    f"hydra.run.dir={tmp_path}/r", capsys=capsys, monkeypatch=monkeypatch)
    assert_one_line_error(proc, "use target.num_references=10 (at most 18)")


def test_a_small_emoji_category_at_its_defaults_gets_a_smaller_K(packages, tmp_path):
    from unseen.job.api import compose

    cfg = compose("target=emoji", f"target.path={packages}", f"cache_dir={tmp_path}")
    assert cfg.target.num_references == 5  # 10 faces: half of them are references


def test_a_folder_of_run_outputs_says_they_were_skipped(tmp_path):
    from unseen.data import image_files

    a_finished_run(tmp_path / "outputs" / "2026-01-01" / "10-00-00")
    with pytest.raises(UserError, match="left out 1 folder\\(s\\) of unseen's own output or cache"):
        image_files(str(tmp_path / "outputs"))


def test_sizes_are_said_in_a_readable_unit():
    from unseen.job.cache import _size

    assert [_size(n) for n in (512, 3_100_000, 2.5e9)] == ["512 bytes", "3.1 MB", "2.5 GB"]


def test_a_checkpoint_with_objects_does_not_advise_unsafe_loading(tmp_path):
    from unseen.models.convert import load_state_dict as read_state

    torch.save({"model": Pickled()}, tmp_path / "pickled.pt")  # an object of a class: weights-only refuses it
    with pytest.raises(UserError) as info:
        read_state(tmp_path / "pickled.pt")
    assert "weights_only=False" not in str(info.value) and "never unpickled" in str(info.value)


def test_a_broken_vae_is_named_as_the_vae(tmp_path):
    import shutil

    from tests import tiny_pipelines as tp
    from unseen.models.loading import load_model

    sd = tp.stable_diffusion(tmp_path / "sd")
    (sd / "vae" / "config.json").write_text("{broken")
    with pytest.raises(UserError, match="could not load the vae"):
        load_model(str(sd))
    shutil.rmtree(sd)


def test_without_held_out_images_the_summary_says_a_distance_not_a_ratio(tmp_path):
    from unseen.job.api import run
    from unseen.job.report import summary

    r = run(*SMALL, "eval=none", "target.num_eval=0", output_dir=tmp_path / "run")
    text = summary(r.metrics, str(r.dir))
    assert "diversity / held-out's" not in text and "a distance, not a ratio" in text


@pytest.mark.parametrize("module,new", [("unseen.world.evaluate", "measure_model.py"),
                                        ("unseen.convert", "unseen.models.convert")])
def test_an_old_module_path_still_runs_and_names_the_new_one(module, new):
    """The worlds, the converter and the fine-tuning baseline moved into the layers' folders (issue 27): the old
    `python -m` paths in a user's notes still run, with one line naming the new path."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and new in proc.stdout, proc.stderr[-2000:]
    assert [line for line in proc.stderr.splitlines() if "moved" in line] and "will go" in proc.stderr


@pytest.mark.parametrize("how", ["module", "file"])
def test_a_study_runs_as_a_module_and_as_a_file(how):
    """experiments/ is a package (python -m experiments.NAME); the file path the older notes name still runs."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    target = ["-m", "experiments.default"] if how == "module" else [str(root / "experiments" / "default.py")]
    proc = subprocess.run([sys.executable, *target, "--help"], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage" in proc.stdout, proc.stderr[-2000:]


@pytest.mark.slow
def test_every_python_m_command_the_docs_name_runs():
    """Every `python -m MODULE` the README and the docs name is found and answers --help (the generators, which take
    no flags and rewrite committed files, are only found)."""
    import importlib.util
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    text = "".join((root / f).read_text() for f in ("README.md", "docs/design.md", "docs/paper.md",
                                                    "experiments/README.md"))
    modules = sorted(set(re.findall(r"python -m ([a-z_]+(?:\.[a-z_]+)*)(?![.\w])", text)))
    assert "unseen.models.convert" in modules and "experiments.priors" in modules
    generators = {"experiments.readme", "experiments.assemble", "benchmarks.report", "benchmarks"}
    bad = []
    for module in modules:
        if module in generators:
            found = importlib.util.find_spec(module) is not None
        else:
            proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=root, capture_output=True, text=True,
                                  timeout=300)
            found = proc.returncode == 0
        if not found:
            bad.append(module)
    assert bad == []
