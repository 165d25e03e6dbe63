"""Schedule identities: monotone alpha_bar, boundary values, the closed forms they come from."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models.diffusion import schedules as S


@pytest.mark.parametrize("name", S.SCHEDULES)
@pytest.mark.parametrize("T", [1000, 50])
def test_alpha_bar_is_monotone_in_unit_interval(name, T):
    ab = S.alpha_bar_from_betas(S.make_betas(name, T))
    assert ab.shape == (T,) and ab.dtype == torch.float64
    assert (ab[1:] < ab[:-1]).all()
    assert (ab > 0).all() and (ab < 1).all()
    assert ab[0] > 0.99  # almost clean at t = 0
    assert ab[-1] < 0.01  # almost pure noise at t = T-1


def test_linear_boundaries_match_ho_et_al():
    b = S.linear_betas(1000)
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    assert torch.allclose(b[1:] - b[:-1], torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64))


def test_cosine_alpha_bar_is_the_closed_form():
    T, s = 1000, 0.008
    ab = S.alpha_bar_from_betas(S.cosine_betas(T))
    t = torch.arange(1, T + 1, dtype=torch.float64) / T
    closed = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    # identical until the 0.999 clip of beta bites near t = T
    assert torch.allclose(ab[:990], closed[:990], rtol=1e-10, atol=0)
    assert torch.allclose(S.cosine_alpha_bar(T)[:990], closed[:990], rtol=1e-12)
    assert S.cosine_betas(T).max() <= 0.999


def test_alpha_bar_at_minus_one_is_one_and_posterior_variance():
    ab = S.alpha_bar_from_betas(S.make_betas("cosine", 100))
    assert S.alpha_bar_at(ab, -1).item() == 1.0
    assert S.alpha_bar_at(ab, 5).item() == ab[5].item()
    var = S.posterior_variance(ab)
    betas = 1 - ab / torch.cat([ab.new_ones(1), ab[:-1]])
    assert var[0].item() == 0.0 and (var[1:] > 0).all() and (var <= betas + 1e-15).all()


def test_log_snr_decreases():
    lam = S.log_snr(S.alpha_bar_from_betas(S.make_betas("linear", 1000)))
    assert (lam[1:] < lam[:-1]).all()


@pytest.mark.parametrize("spacing", ["linspace", "trailing", "quadratic"])
def test_sampling_timesteps(spacing):
    ts = S.sampling_timesteps(1000, 20, spacing)
    assert ts.shape == (20,) and ts[0].item() == 999
    assert (ts[1:] < ts[:-1]).all() and ts.min() >= 0
    if spacing == "linspace":
        assert ts[-1].item() == 0
    assert torch.equal(S.sampling_timesteps(10, 10), torch.arange(9, -1, -1))
    assert S.sampling_timesteps(1000, 4, start=399).tolist() == [399, 299, 199, 99]


def test_bad_inputs_name_valid_choices():
    with pytest.raises(ValueError, match="valid: \\['linear', 'cosine'\\]"):
        S.make_betas("sigmoid", 10)
    with pytest.raises(ValueError, match="\\[1, 10\\]"):
        S.sampling_timesteps(10, 11)
    with pytest.raises(ValueError, match="linspace"):
        S.sampling_timesteps(10, 3, "log")
