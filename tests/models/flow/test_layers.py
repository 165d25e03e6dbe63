"""Each invertible layer of genlab/models/flow/layers.py: inverse(forward(x)) == x, and the log-determinant it
reports equals log|det| of the autograd Jacobian (float64, tiny inputs); ActNorm's data-dependent init."""

from __future__ import annotations

import pytest
import torch

from genlab.models.flow.layers import (
    ActNorm,
    AffineCoupling,
    FlowStep,
    GaussianSplit,
    InvConv1x1,
    Logit,
    Squeeze,
    soft_bound,
    squeeze,
    unsqueeze,
)


def randomize(layer: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn at random (so no layer is the identity) and ActNorms marked initialized."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
        for m in layer.modules():
            if isinstance(m, ActNorm):
                m.initialized.fill_(True)
    return layer


LAYERS = {
    "squeeze": lambda c: Squeeze(),
    "logit": lambda c: Logit(0.05),
    "logit0": lambda c: Logit(0.0),
    "actnorm": lambda c: randomize(ActNorm(c)),
    "invconv": lambda c: randomize(InvConv1x1(c)),
    "coupling": lambda c: randomize(AffineCoupling(c, 8)),
    "step": lambda c: randomize(FlowStep(c, 8)),
    "split": lambda c: randomize(GaussianSplit(c)),
    "coupling_bounded": lambda c: randomize(AffineCoupling(c, 8, log_scale_bound=0.5)),
    "step_bounded": lambda c: randomize(FlowStep(c, 8, log_scale_bound=0.5)),
    "split_bounded": lambda c: randomize(GaussianSplit(c, log_scale_bound=0.5)),
}


def inputs(name: str, shape, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if name.startswith("logit"):  # pixels in (0, 1)
        return torch.rand(shape, generator=g).clamp(0.01, 0.99).to(dtype)
    return torch.randn(shape, generator=g).to(dtype)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inverse_undoes_forward(name):
    torch.manual_seed(0)
    layer = LAYERS[name](4)
    x = inputs(name, (3, 4, 6, 6))
    z, logdet = layer(x)
    assert logdet.shape == (3,)
    assert (layer.inverse(z) - x).abs().max() < 1e-4


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("channels", [2, 4])
def test_logdet_matches_the_autograd_jacobian(name, channels):
    torch.manual_seed(0)
    layer = LAYERS[name](channels).double()
    x = inputs(name, (1, channels, 4, 4), torch.float64)
    z, logdet = layer(x)
    jac = torch.autograd.functional.jacobian(lambda t: layer(t.view_as(x))[0].flatten(), x.flatten())
    sign, ref = torch.linalg.slogdet(jac)
    assert sign != 0
    assert logdet.item() == pytest.approx(ref.item(), abs=1e-8)
    if name.removesuffix("_bounded") in ("coupling", "step", "split", "invconv"):  # really not volume preserving
        assert abs(ref.item()) > 1e-3


def test_logdet_is_per_example():
    layer = randomize(FlowStep(4, 8)).double()
    x = inputs("step", (2, 4, 4, 4), torch.float64)
    _, both = layer(x)
    singles = torch.cat([layer(x[i:i + 1])[1] for i in range(2)])
    assert torch.allclose(both, singles)
    assert both[0] != both[1]  # the coupling's log-scale depends on the input


def test_squeeze_moves_each_2x2_patch_into_channels():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    s = squeeze(x)
    assert s.shape == (1, 4, 2, 2)
    assert s[0, :, 0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]  # the top-left patch, row by row
    assert torch.equal(unsqueeze(s), x)


def test_actnorm_initializes_from_the_first_batch_only():
    g = torch.Generator().manual_seed(0)
    x = 3.0 + 5.0 * torch.randn(64, 3, 4, 4, generator=g)
    x[:, 1] *= 0.1
    layer = ActNorm(3)
    assert not layer.initialized
    z, logdet = layer(x)
    per_channel = z.transpose(0, 1).flatten(1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(per_channel.std(1), torch.ones(3), atol=1e-4)
    assert bool(layer.initialized)
    assert torch.allclose(logdet, layer.log_scale.sum() * 16 * torch.ones(64))
    loc = layer.loc.detach().clone()
    layer(torch.randn(8, 3, 4, 4, generator=g))  # a second batch does not re-initialize
    assert torch.equal(layer.loc, loc)


def test_a_loaded_actnorm_is_not_initialized_again():
    trained = ActNorm(2)
    trained(torch.randn(16, 2, 3, 3) * 4 + 1)
    fresh = ActNorm(2)
    fresh.load_state_dict(trained.state_dict())
    x = torch.randn(16, 2, 3, 3)
    assert torch.equal(fresh(x)[0], trained(x)[0])


def test_invconv_weight_is_p_l_u_and_starts_as_a_rotation():
    torch.manual_seed(0)
    layer = InvConv1x1(5)
    w = layer.weight()
    assert torch.allclose(w @ w.T, torch.eye(5), atol=1e-5)
    assert layer.log_s.sum().abs() < 1e-5  # |det W| = 1
    assert torch.allclose(layer.inverse_weight() @ w, torch.eye(5), atol=1e-5)


def test_zero_initialized_coupling_only_scales_by_sigmoid_2():
    layer = AffineCoupling(4, 8, zero_init=True)
    x = torch.randn(2, 4, 3, 3)
    z, logdet = layer(x)
    s = torch.sigmoid(torch.tensor(2.0))
    assert torch.equal(z[:, :2], x[:, :2])
    assert torch.allclose(z[:, 2:], x[:, 2:] * s)
    assert torch.allclose(logdet, torch.full((2,), 18 * s.log().item()))


def test_soft_bound_is_the_identity_near_zero_and_never_passes_the_bound():
    v = torch.tensor([-1e4, -40.0, -1e-3, 0.0, 1e-3, 40.0])
    b = soft_bound(v, 6.0)
    assert b.abs().max() <= 6.0
    assert torch.allclose(b[2:5], v[2:5], atol=1e-9)
    assert torch.equal(soft_bound(v, 0.0), v)  # 0: unbounded (Glow)


def test_an_unusual_input_cannot_squash_a_pixel_past_the_bound():
    """A coupling network fed an input far from what it was trained on can extrapolate its pre-sigmoid scale to
    -50 (log s = -50 per pixel); with the bound each pixel's log s stays above -c, and the split prior's log
    sigma inside (-c, c)."""
    coupling = AffineCoupling(4, 8, log_scale_bound=6.0)
    split = GaussianSplit(4, log_scale_bound=6.0)
    with torch.no_grad():
        coupling.net[-1].bias[2:].fill_(-52.0)  # r = -52: log sigmoid(r + 2) = -50
        split.prior.bias[2:].fill_(-30.0)  # raw log sigma = -30
    x = torch.randn(2, 4, 3, 3)
    _, log_s = coupling.shift_log_scale(x[:, :2])
    assert log_s.min() > -6.0 and log_s.min() < -5.9
    _, logdet = coupling(x)
    assert (logdet > -6.0 * 18).all()
    _, log_sigma = split.mu_log_sigma(x[:, :2])
    assert log_sigma.min() > -6.0
    unbounded = AffineCoupling(4, 8)
    unbounded.load_state_dict(coupling.state_dict())
    assert unbounded.shift_log_scale(x[:, :2])[1].min() < -49.0


def test_a_coupling_needs_two_channels():
    with pytest.raises(ValueError, match="at least 2, got 1; squeeze"):
        AffineCoupling(1, 8)


def test_flow_step_folds_actnorm_into_the_1x1_conv_exactly():
    step = randomize(FlowStep(4, 8)).double()
    x = inputs("step", (3, 4, 5, 5), torch.float64)
    a, ld_a = step.actnorm(x)
    w, ld_w = step.conv(a)
    ref, ld_c = step.coupling(w)
    z, logdet = step(x)
    assert torch.allclose(z, ref, atol=1e-12) and torch.allclose(logdet, ld_a + ld_w + ld_c, atol=1e-10)
