"""Our DDIM pinned to diffusers' schedulers, an implementation we did not write."""

import pytest
import torch
from diffusers import DDIMInverseScheduler, DDIMScheduler, UNet2DModel

from tests.helpers import FakeUNet
from unseen.errors import NonFiniteError
from unseen.method import ddim


def _predictor(unet, alphas_cumprod):
    return ddim.NoisePredictor(unet, alphas_cumprod, batch_size=8)


def _schedulers():
    kwargs = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                  clip_sample=False, set_alpha_to_one=True)
    return DDIMScheduler(**kwargs), DDIMInverseScheduler(**kwargs)


def test_time_grid_is_the_papers_linspace_rounded_down():
    assert ddim.time_grid(980, 49) == list(range(0, 981, 20))
    assert ddim.time_grid(10, 3) == [0, 3, 6, 10]
    g = ddim.time_grid(777, 50)
    assert g[0] == 0 and g[-1] == 777 and len(g) == 51 and all(b > a for a, b in zip(g, g[1:]))
    with pytest.raises(ValueError, match="at most t_M steps"):
        ddim.time_grid(5, 6)


def test_stride_grid_contains_every_smaller_t_M():
    assert ddim.stride_grid(800, 20)[:11] == ddim.stride_grid(200, 20)
    with pytest.raises(ValueError, match="multiple of the grid stride"):
        ddim.stride_grid(810, 20)


def test_every_step_matches_diffusers(random_unet, alphas_cumprod):
    """On a uniform grid (stride 20, 50 steps), each generation step equals DDIMScheduler.step (eta 0) and
    each inversion step equals DDIMInverseScheduler.step fed eps at the current, lower time."""
    predictor = _predictor(random_unet, alphas_cumprod)
    fwd, inv = _schedulers()
    fwd.set_timesteps(50)
    inv.set_timesteps(50)
    grid = ddim.time_grid(980, 49)
    assert fwd.timesteps.tolist() == grid[::-1]
    torch.manual_seed(1)
    x = torch.randn(2, 3, 16, 16)
    for a, b in zip(grid[:-1], grid[1:]):  # inversion a -> b
        eps = predictor(x.double(), a)
        ours = ddim.ddim_step(x.double(), eps, predictor.alpha_bar(a), predictor.alpha_bar(b))
        theirs = inv.step(eps.float(), b, x).prev_sample
        torch.testing.assert_close(ours.float(), theirs, rtol=1e-5, atol=1e-5)
    times = grid[::-1] + [-1]
    for a, b in zip(times[:-1], times[1:]):  # generation a -> b, the last one to the clean image
        eps = predictor(x.double(), a)
        ours = ddim.ddim_step(x.double(), eps, predictor.alpha_bar(a), predictor.alpha_bar(b))
        theirs = fwd.step(eps.float(), a, x, eta=0.0).prev_sample
        torch.testing.assert_close(ours.float(), theirs, rtol=1e-5, atol=1e-5)


def test_clipped_generation_matches_diffusers_clip_sample(random_unet, alphas_cumprod):
    predictor = _predictor(random_unet, alphas_cumprod)
    fwd = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True, set_alpha_to_one=True)
    fwd.set_timesteps(20)
    torch.manual_seed(3)
    z = torch.randn(2, 3, 16, 16)
    y = z.clone()
    for t in fwd.timesteps.tolist():
        y = fwd.step(random_unet(y, t).sample, t, y, eta=0.0).prev_sample
    ours = ddim.generate(predictor, z, ddim.time_grid(950, 19), clip_x0=True)
    assert ddim.time_grid(950, 19) == fwd.timesteps.tolist()[::-1]
    # float32 (theirs) vs float64 (ours) rounding meets the clamp's kink: a looser bound than unclipped
    torch.testing.assert_close(ours, y, rtol=1e-3, atol=1e-3)
    assert (ours - ddim.generate(predictor, z, ddim.time_grid(950, 19))).abs().max() > 1e-2  # clipping bit


def test_whole_trajectories_match_diffusers(random_unet, alphas_cumprod):
    """24 steps each way against diffusers' own schedulers, pinned exactly: both sides in float64 (the UNet, and
    the schedulers' alphas, which diffusers keeps in float32), diffusers' inverse point rounded to float32 after
    each step as ours is stored (design s.1). A float32 comparison with a tolerance once failed under load."""
    import copy

    unet = copy.deepcopy(random_unet).double()
    predictor = ddim.NoisePredictor(unet, alphas_cumprod, batch_size=8, model_dtype=torch.float64)
    fwd, inv = _schedulers()
    for scheduler in (fwd, inv):
        scheduler.set_timesteps(25)
        scheduler.alphas_cumprod = scheduler.alphas_cumprod.double()
        for name in ("final_alpha_cumprod", "initial_alpha_cumprod"):
            if name in scheduler.__dict__:
                setattr(scheduler, name, torch.as_tensor(getattr(scheduler, name)).double())
    grid = list(range(0, 961, 40))
    torch.manual_seed(2)
    x0 = torch.rand(3, 3, 16, 16) * 2 - 1

    x = x0.double()
    with torch.no_grad():
        for t in inv.timesteps.tolist()[1:]:  # diffusers' inverse loop, fed eps at the lower time t - 40
            x = inv.step(unet(x, t - 40).sample, t, x).prev_sample.float().double()
    latents = ddim.invert(predictor, x0, grid)
    assert latents.shape == (len(grid), 3, 3, 16, 16)
    torch.testing.assert_close(latents[0], x0)
    torch.testing.assert_close(latents[-1], x.float(), rtol=0, atol=0)

    y = latents[-1].double()
    with torch.no_grad():
        for t in fwd.timesteps.tolist():
            y = fwd.step(unet(y, t).sample, t, y, eta=0.0).prev_sample
    torch.testing.assert_close(ddim.generate(predictor, latents[-1], grid), y.float(), rtol=0, atol=0)


def test_learned_variance_models_use_the_first_channels(alphas_cumprod):
    torch.manual_seed(0)
    kw = dict(sample_size=8, in_channels=3, layers_per_block=1, block_out_channels=(8, 16),
              down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
              norm_num_groups=4)
    unet = UNet2DModel(out_channels=6, **kw).eval()
    x = torch.randn(2, 3, 8, 8)
    eps = ddim.NoisePredictor(unet, alphas_cumprod)(x.double(), 100)
    with torch.no_grad():
        full = unet(x, 100).sample
    assert eps.shape == (2, 3, 8, 8)
    torch.testing.assert_close(eps.float(), full[:, :3])


def test_evaluations_are_counted_and_batched(random_unet, alphas_cumprod):
    predictor = ddim.NoisePredictor(random_unet, alphas_cumprod, batch_size=3)
    ddim.invert(predictor, torch.zeros(7, 3, 16, 16), [0, 10, 20])
    assert predictor.evaluations == 14
    single = ddim.NoisePredictor(random_unet, alphas_cumprod, batch_size=1)
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(single(x, 50), predictor(x, 50), rtol=1e-5, atol=1e-5)


def test_round_trip_without_a_model_is_exact(alphas_cumprod):
    """With eps independent of x (a constant 'model'), DDIM is exactly invertible: a pure arithmetic check
    that also shows why the grid's clean end counts as time 0 on the way up."""
    e = torch.randn(1, 3, 4, 4)
    predictor = ddim.NoisePredictor(FakeUNet(lambda x, t: e.expand_as(x)), alphas_cumprod)
    x0 = torch.rand(2, 3, 4, 4) * 2 - 1
    grid = ddim.time_grid(700, 35)
    z = ddim.invert(predictor, x0, grid)[-1]
    # generation ends at alpha_bar = 1 while inversion started at alpha_bar[0]: undo that last bit by hand
    back = ddim.generate(predictor, z, grid).double()
    e = predictor(x0.double(), 0)
    at_time_0 = ddim.ddim_step(back, e, 1.0, alphas_cumprod[0])
    # what is left is the float32 storage of the 35 points the inversion passes (6e-8 relative each,
    # amplified by at most 1 / sqrt(alpha_bar[700]) ~ 13 on the way down)
    torch.testing.assert_close(at_time_0.float(), x0, rtol=0, atol=1e-5)


def test_non_finite_model_output_is_an_error(alphas_cumprod):
    broken = FakeUNet(lambda x, t: torch.full_like(x, float("nan")))
    with pytest.raises(NonFiniteError, match="NaN"):
        ddim.invert(ddim.NoisePredictor(broken, alphas_cumprod), torch.zeros(1, 3, 4, 4), [0, 10])


@pytest.mark.parametrize("prediction_type", ["v_prediction", "sample"])
def test_v_and_x0_models_are_converted_to_eps_as_diffusers_does(prediction_type, random_unet, alphas_cumprod):
    """A v- or x0-predicting UNet gives the same DDIM step as diffusers' DDIMScheduler told its prediction_type."""
    kwargs = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                  clip_sample=False, set_alpha_to_one=True, prediction_type=prediction_type)
    scheduler = DDIMScheduler(**kwargs)
    scheduler.set_timesteps(50)
    predictor = ddim.NoisePredictor(random_unet, alphas_cumprod, prediction_type=prediction_type)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    t, prev = 500, 480
    with torch.no_grad():
        output = random_unet(x, torch.full((2,), t)).sample
    theirs = scheduler.step(output, t, x, eta=0.0).prev_sample
    ours = ddim.ddim_step(x.double(), predictor(x.double(), t), alphas_cumprod[t], alphas_cumprod[prev])
    assert (ours.float() - theirs).abs().max() < 1e-4
    plain = ddim.NoisePredictor(random_unet, alphas_cumprod)(x.double(), t)
    assert (plain - predictor(x.double(), t)).abs().max() > 0.1  # never run silently as if it predicted eps


def test_an_unknown_prediction_type_is_refused(random_unet, alphas_cumprod):
    from unseen.errors import UserError

    with pytest.raises(UserError, match="prediction_type 'flow'"):
        ddim.NoisePredictor(random_unet, alphas_cumprod, prediction_type="flow")


def test_stochastic_step_matches_diffusers_eta(random_unet, alphas_cumprod):
    """DDIM with eta > 0 equals DDIMScheduler.step(eta=...) fed the same variance noise."""
    predictor = _predictor(random_unet, alphas_cumprod)
    fwd, _ = _schedulers()
    fwd.set_timesteps(50)
    grid = ddim.time_grid(980, 49)
    times = grid[::-1]
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    for eta in (0.5, 1.0):
        for a, b in zip(times[:-1], times[1:]):
            eps = predictor(x.double(), a)
            noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(a), dtype=torch.float64)
            ours = ddim.stochastic_ddim_step(x.double(), eps, predictor.alpha_bar(a), predictor.alpha_bar(b), eta,
                                             torch.Generator().manual_seed(a))
            theirs = fwd.step(eps.float(), a, x, eta=eta, variance_noise=noise.float()).prev_sample
            torch.testing.assert_close(ours.float(), theirs, rtol=1e-5, atol=1e-5)


def test_stochastic_tail_is_deterministic_until_eta_from(random_unet, alphas_cumprod):
    """eta_from = 40 on the grid 0, 20, ..., 100: the steps from 100, 80 and 60 are DDIM's, those from 40 and 20
    and the last one are stochastic, drawing from the generator in that order."""
    predictor = _predictor(random_unet, alphas_cumprod)
    z = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    grid = list(range(0, 101, 20))
    got = ddim.generate(predictor, z, grid, eta=1.0, generator=torch.Generator().manual_seed(5), eta_from=40)
    x, gen = z.double(), torch.Generator().manual_seed(5)
    for a, b in zip([100, 80, 60, 40, 20, 0], [80, 60, 40, 20, 0, -1]):
        step = ddim.stochastic_ddim_step if a <= 40 else ddim.ddim_step
        args = (x, predictor(x, a), predictor.alpha_bar(a), predictor.alpha_bar(b))
        x = step(*args, 1.0, gen) if a <= 40 else step(*args)
    assert torch.equal(got, x.float())
    assert not torch.equal(got, ddim.generate(predictor, z, grid))


def test_renoise_is_the_forward_process():
    x0 = torch.rand(3, 3, 4, 4, dtype=torch.float64)
    assert torch.equal(ddim.renoise(x0, 1.0, torch.Generator().manual_seed(0)), x0)
    got = ddim.renoise(x0, 0.36, torch.Generator().manual_seed(1))
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(got, 0.6 * x0 + 0.8 * eps)


def test_matched_start_is_the_first_t_at_the_scaled_noise_level(alphas_cumprod):
    """alpha_bar(t') <= scale * alpha_bar(t_M) < alpha_bar(t' - 1); scale 1 keeps t_M; past T, the last step."""
    for t_M, scale in [(300, 0.64), (100, 0.5), (500, 0.9)]:
        t = ddim.matched_start(alphas_cumprod, t_M, scale)
        assert t > t_M
        assert alphas_cumprod[t] <= scale * alphas_cumprod[t_M] < alphas_cumprod[t - 1]
    assert ddim.matched_start(alphas_cumprod, 300, 1.0) == 300
    assert ddim.matched_start(alphas_cumprod, 300, 1e-9) == 999
    # the 64-component mixture of the default job at bandwidth 1 (prior.signal_scale 0.643): t_M 300 -> 366
    assert ddim.matched_start(alphas_cumprod, 300, 0.643) == 366


def test_extend_grid_continues_at_the_grids_spacing():
    assert ddim.extend_grid([0, 10, 20, 30], 57) == [0, 10, 20, 30, 40, 50, 57]
    assert ddim.extend_grid([0, 10, 20, 30], 40) == [0, 10, 20, 30, 40]
    assert ddim.extend_grid([0, 10, 20, 30], 30) == [0, 10, 20, 30]
    assert ddim.extend_grid([0], 7) == [0, 7]
