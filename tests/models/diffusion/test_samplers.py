"""Samplers against the closed-form optimal denoiser of Gaussian data, and guidance conventions.

For data x_0 ~ N(mu, s^2) (per dimension) and x_t = sqrt(a) x_0 + sqrt(1-a) eps, the optimal denoiser is
    E[x_0 | x_t] = mu + sqrt(a) s^2 / (a s^2 + 1 - a) (x_t - sqrt(a) mu),
and the probability-flow ODE maps the noise z = x_T (a_T ~ 0) to x_0 = mu + s z, one sample at a time.
"""

from __future__ import annotations

import pytest
import torch

from genlab.models.diffusion import samplers as SM
from genlab.models.diffusion import schedules as S
from genlab.models.diffusion.denoiser import Denoiser, split_prediction, training_target

MU, SD = 0.3, 0.5
AB = S.alpha_bar_from_betas(S.make_betas("cosine", 1000))


def exact_net(x_t, t, y=None):
    a = AB[t].to(x_t.dtype).view(-1, *([1] * (x_t.ndim - 1)))
    return MU + a.sqrt() * SD ** 2 / (a * SD ** 2 + 1 - a) * (x_t - a.sqrt() * MU)


def gaussian_denoiser() -> Denoiser:
    return Denoiser(exact_net, AB, prediction="x0", clip=0)


@pytest.fixture(scope="module")
def x_T():
    return torch.randn(20000, 1, generator=torch.Generator().manual_seed(0))


def test_ddim_many_steps_is_the_exact_ode_map(x_T):
    x = SM.sample_ddim(gaussian_denoiser(), x_T, S.sampling_timesteps(1000, 500))
    assert (x - (MU + SD * x_T)).abs().max() < 0.01
    assert x.mean().item() == pytest.approx(MU + SD * x_T.mean().item(), abs=1e-3)
    assert x.std().item() == pytest.approx(SD * x_T.std().item(), rel=0.01)


def test_dpmpp_2m_20_steps_reproduces_mean_and_variance(x_T):
    x = SM.sample_dpmpp_2m(gaussian_denoiser(), x_T, S.sampling_timesteps(1000, 20))
    assert x.mean().item() == pytest.approx(MU, abs=0.015)
    assert x.std().item() == pytest.approx(SD, rel=0.03)
    assert (x - (MU + SD * x_T)).abs().max() < 0.05
    # second order: far closer to the ODE solution than DDIM with the same 20 evaluations
    ddim = SM.sample_ddim(gaussian_denoiser(), x_T, S.sampling_timesteps(1000, 20))
    err = lambda z: (z - (MU + SD * x_T)).abs().mean().item()
    assert err(x) < 0.5 * err(ddim)


def test_ancestral_ddpm_reproduces_mean_and_variance(x_T):
    x = SM.sample_ddpm(gaussian_denoiser(), x_T[:4000], S.sampling_timesteps(1000, 1000),
                       generator=torch.Generator().manual_seed(1))
    assert x.mean().item() == pytest.approx(MU, abs=0.025)
    assert x.std().item() == pytest.approx(SD, rel=0.04)


def test_ddim_eta_one_is_stochastic_and_matches_variance(x_T):
    ts = S.sampling_timesteps(1000, 200)
    a = SM.sample_ddim(gaussian_denoiser(), x_T[:4000], ts, eta=1.0, generator=torch.Generator().manual_seed(1))
    b = SM.sample_ddim(gaussian_denoiser(), x_T[:4000], ts, eta=1.0, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(a, b)
    assert a.std().item() == pytest.approx(SD, rel=0.05)
    c = SM.sample_ddim(gaussian_denoiser(), x_T[:100], ts, eta=0.0, generator=torch.Generator().manual_seed(1))
    d = SM.sample_ddim(gaussian_denoiser(), x_T[:100], ts, eta=0.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(c, d)  # eta = 0 is deterministic


def test_callback_sees_every_network_call(x_T):
    seen = []
    den = gaussian_denoiser()
    SM.sample_dpmpp_2m(den, x_T[:8], S.sampling_timesteps(1000, 7), callback=lambda i, t, x, x0: seen.append((i, t)))
    assert [i for i, _ in seen] == list(range(7)) and seen[0][1] == 999 and den.calls == 7


def test_timesteps_are_validated(x_T):
    with pytest.raises(ValueError, match="strictly decreasing"):
        SM.sample_ddim(gaussian_denoiser(), x_T[:2], torch.tensor([10, 20]))
    with pytest.raises(ValueError, match="valid: \\['ddim', 'ddpm', 'dpmpp_2m'\\]"):
        SM.get_sampler("euler")


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_prediction_targets_round_trip(prediction):
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    a = torch.tensor([0.9, 0.5, 0.1, 0.01]).view(4, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    e, x = split_prediction(training_target(x0, eps, a, prediction), x_t, a, prediction)
    assert torch.allclose(e, eps, atol=1e-5) and torch.allclose(x, x0, atol=1e-5)


def label_net(x_t, t, y):
    """Output = the label as a number (null label 9 -> -1), so guidance arithmetic is visible."""
    v = torch.where(y == 9, torch.full_like(y, -1), y).float()
    return v.view(-1, 1) + 0 * x_t


def test_guidance_zero_and_one_are_the_unconditional_and_conditional_models():
    x = torch.zeros(3, 1)
    t = torch.full((3,), 10)
    y = torch.tensor([2, 4, 6])
    raw = lambda w: Denoiser(label_net, AB, labels=y, guidance=w, null_label=9).raw(x, t)
    assert torch.equal(raw(1.0), label_net(x, t, y))  # conditional
    assert torch.equal(raw(0.0), label_net(x, t, torch.full_like(y, 9)))  # unconditional
    assert torch.allclose(raw(3.0), -1 + 3 * (y.float().view(-1, 1) + 1))  # u + w (c - u)
    den = Denoiser(label_net, AB, labels=y, guidance=1.0, null_label=9)
    den.raw(x, t)
    assert den.calls == 1  # w = 1 and w = 0 cost a single batch


def test_guidance_needs_a_null_label():
    with pytest.raises(ValueError, match="null label"):
        Denoiser(label_net, AB, labels=torch.tensor([1]), guidance=2.0)


def test_repaint_keeps_known_region_and_walks_back():
    assert SM.repaint_schedule(5, 5, 3) == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5]
    assert SM.repaint_schedule(4, 2, 1) == [0, 1, 2, 3, 4]
    known = torch.linspace(-1, 1, 16).view(1, 1, 4, 4).repeat(2, 1, 1, 1)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    x_T = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = SM.sample_repaint(gaussian_denoiser(), x_T, S.sampling_timesteps(1000, 6), known=known, mask=mask,
                            jump_length=2, resample=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[..., 2:], known[..., 2:])
    assert not torch.equal(out[..., :2], known[..., :2])


@pytest.mark.parametrize("name", ["ddpm", "ddim", "dpmpp_2m"])
def test_the_progress_hook_is_called_once_per_step_with_the_total(name):
    calls = []
    SM.get_sampler(name)(gaussian_denoiser(), torch.randn(4, 1, generator=torch.Generator().manual_seed(0)),
                         S.sampling_timesteps(1000, 7), progress=lambda *a: calls.append(a))
    assert calls == [("step", k, 7) for k in range(8)]  # 0 opens the stage, then one call after each step


def test_repaint_reports_every_move_of_its_walk():
    calls, walk = [], SM.repaint_schedule(4, 2, 2)
    known = torch.zeros(3, 1)
    SM.sample_repaint(gaussian_denoiser(), torch.randn(3, 1), S.sampling_timesteps(1000, 4), known=known,
                      mask=torch.ones(3, 1), jump_length=2, resample=2, progress=lambda *a: calls.append(a))
    assert calls == [("step", k, len(walk) - 1) for k in range(len(walk))]
