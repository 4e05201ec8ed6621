"""The orchestrator (unseen.job.pipeline): the shape of the code (a composer that reads as the method, no source
special-cased, short functions everywhere) and what it does between the stages (match_noise's grid)."""

import ast
from pathlib import Path

from tests.helpers import make_cfg, run

ROOT = Path(__file__).resolve().parents[2]


def test_pipeline_is_a_composer_and_functions_are_short():
    assert len((ROOT / "unseen" / "job" / "pipeline.py").read_text().splitlines()) <= 250
    data_tables = {("convert.py", "adm_mapping"), ("convert.py", "ddpm_mapping")}  # key maps: a table each
    long = []
    files = [f for d in ("unseen", "experiments", "benchmarks", "scripts") for f in sorted((ROOT / d).rglob("*.py"))]
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (f.name, node.name) not in data_tables:
                if node.end_lineno - node.lineno + 1 > 50:
                    long.append(f"{f.relative_to(ROOT)}:{node.name} {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def test_no_source_is_special_cased_in_the_pipeline():
    text = (ROOT / "unseen" / "job" / "pipeline.py").read_text()
    for name in ("\"id\"", "\"sdedit\"", "\"slerp\"", "\"replay\"", "\"paper\""):
        assert name not in text


def test_match_noise_starts_the_draws_where_their_noise_level_is(tmp_path):
    """sampler.match_noise: the mixture's draws are denoised from the t that prior.signal_scale gives (the grid
    continued above t_M at its spacing), and the run says so; without it they start at t_M."""
    from diffusers import DDPMScheduler

    from unseen.method import ddim

    over = ["prior=mixture", "mixing.reconstruct=0", "sampler.count=4", "sampler.batch_size=4"]
    on = run(make_cfg([*over, "sampler.match_noise=true"], tmp_path / "on"))
    off = run(make_cfg(over, tmp_path / "off"))
    ab = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear").alphas_cumprod
    scale = on["prior"]["signal_scale"]
    assert 0 < scale < 1 and scale == off["prior"]["signal_scale"]
    start = ddim.matched_start(ab, 200, scale)
    assert on["match_noise"] == {"signal_scale": scale, "start_t": start} and start > 200
    grid = ddim.time_grid(200, 10)  # SMALL's linspace grid: 10 steps to t_M = 200
    assert on["generation_steps"] == len(ddim.extend_grid(grid, start)) > off["generation_steps"] == len(grid)
    assert "match_noise" not in off
    assert on["unet_evaluations"]["generate"] - off["unet_evaluations"]["generate"] == \
        4 * (on["generation_steps"] - off["generation_steps"])


def test_the_run_goes_invert_draw_denoise_score(tmp_path):
    """The orchestrator's order, read from the stages a run timed (in the order they ran)."""
    m = run(make_cfg(["prior=mixture", "sampler.count=4", "sampler.batch_size=4"], tmp_path / "run"))
    order = list(m["seconds"])
    assert order[:3] == ["load_model", "load_target", "encode"]
    assert order.index("invert") < order.index("reconstruct") < order.index("fit_prior") < order.index("generate") \
        < order.index("evaluate") == len(order) - 1
