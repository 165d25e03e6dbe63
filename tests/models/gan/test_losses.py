"""GAN losses, penalties, spectral norm and DiffAugment: signs, optima and definitions, checked exactly."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genlab.models.gan.losses import (
    LOSSES,
    augment_cutout,
    augment_translation,
    d_loss,
    d_means,
    diff_augment,
    g_loss,
    gradient_penalty,
    parse_policy,
    r1_penalty,
)
from genlab.models.gan.nets import MinibatchStd, conv_discriminator, sn
from genlab.models.gan.toy import (
    ToyConfig,
    mixture_1d,
    mode_counts,
    modes_covered,
    toy_samples,
    train_toy_gan,
)


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_signs(loss):
    """D's loss falls as D(real) rises and D(fake) falls; G's loss falls as D(fake) rises."""
    f_r = torch.tensor([0.3, -0.2], requires_grad=True)
    f_f = torch.tensor([0.1, -0.4], requires_grad=True)
    d_loss(loss, f_r, f_f).backward()
    assert (f_r.grad < 0).all() and (f_f.grad > 0).all()
    f = torch.tensor([0.3, -0.2], requires_grad=True)
    g_loss(loss, f).backward()
    assert (f.grad < 0).all()


def test_non_saturating_generator_keeps_its_gradient_where_minimax_saturates():
    """Goodfellow et al. 2014, sec. 3: when D confidently rejects the fakes (f -> -inf), log(1 - D) saturates."""
    f = torch.tensor([-12.0], requires_grad=True)
    g_loss("ns", f).backward()
    ns_grad = f.grad.clone()
    f.grad = None
    g_loss("minimax", f).backward()
    assert ns_grad.abs().item() == pytest.approx(1.0, abs=1e-4)
    assert f.grad.abs().item() < 1e-4


def _table_optimum(loss: str) -> torch.Tensor:
    """Minimize E_{p_r}[real term] + E_{p_g}[fake term] over a free score per point of a 3-point space,
    with p_r = (1/2, 1/4, 1/4) and p_g = (1/4, 1/4, 1/2) written as equally weighted batches."""
    f = torch.zeros(3, requires_grad=True)
    real_idx, fake_idx = torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 2, 2])

    def objective():
        opt.zero_grad()
        value = d_loss(loss, f[real_idx], f[fake_idx])
        value.backward()
        return value

    if loss == "hinge":  # piecewise linear: plain (sub)gradient steps
        opt = torch.optim.SGD([f], lr=0.01)
        for _ in range(600):
            objective()
            opt.step()
    else:
        opt = torch.optim.LBFGS([f], lr=1.0, max_iter=50, line_search_fn="strong_wolfe")
        opt.step(objective)
    return f.detach()


def test_ns_discriminator_optimum_is_the_log_density_ratio():
    """D*(x) = p_r / (p_r + p_g), i.e. f* = log(p_r / p_g) (Goodfellow et al. 2014, prop. 1)."""
    f = _table_optimum("ns")
    assert torch.allclose(f, torch.tensor([math.log(2), 0.0, -math.log(2)]), atol=1e-4)


def test_hinge_discriminator_optimum_is_the_sign_of_the_density_difference():
    f = _table_optimum("hinge")
    assert f[0] == pytest.approx(1.0, abs=0.05) and f[2] == pytest.approx(-1.0, abs=0.05)
    assert -1.0 <= f[1] <= 1.0  # p_r = p_g there: every score in [-1, 1] is optimal


def test_wgan_loss_is_minus_the_mean_difference():
    f_r, f_f = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    assert d_loss("wgan", f_r, f_f).item() == pytest.approx(-2.0)
    assert d_means("wgan", f_r, f_f)["wasserstein"].item() == pytest.approx(2.0)
    assert d_means("ns", torch.zeros(3), torch.zeros(3))["d_real"].item() == pytest.approx(0.5)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    """D(x) = <w, x> + b has gradient w everywhere, so GP = (|w| - 1)^2 exactly."""
    lin = nn.Linear(12, 1)
    real, fake, eps = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2), torch.rand(5)
    gp = gradient_penalty(lambda x: lin(x.flatten(1)).squeeze(1), real, fake, eps)
    assert gp.item() == pytest.approx((lin.weight.norm() - 1).pow(2).item(), rel=1e-5)


def test_gradient_penalty_matches_its_definition_on_a_tiny_critic():
    """E_i[(|grad D(xhat_i)| - 1)^2] with xhat_i = eps_i x_i + (1 - eps_i) x~_i, one sample at a time."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 1))
    real, fake, eps = torch.randn(4, 2, 2, 2), torch.randn(4, 2, 2, 2), torch.rand(4)
    gp = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake, eps)
    terms = []
    for i in range(4):
        x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
        terms.append((grad.norm() - 1) ** 2)
    assert gp.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)
    gp.backward()  # the penalty is differentiable w.r.t. the critic's weights (create_graph=True)
    assert critic[1].weight.grad.abs().sum() > 0


def test_r1_penalty_is_the_squared_input_gradient_norm():
    """For D(x) = |x|^2 / 2 the gradient is x, so R1 = E|x|^2."""
    x = torch.randn(6, 1, 3, 3, requires_grad=True)
    f = 0.5 * x.flatten(1).pow(2).sum(1)
    assert r1_penalty(f, x).item() == pytest.approx(x.detach().flatten(1).pow(2).sum(1).mean().item(), rel=1e-6)


def _sigma_max(weight: torch.Tensor) -> float:
    return torch.linalg.matrix_norm(weight.detach().flatten(1), ord=2).item()


@pytest.mark.parametrize("make", [lambda: nn.Linear(20, 30), lambda: nn.Conv2d(3, 8, 4, 2, 1)], ids=["linear", "conv"])
def test_spectral_norm_bounds_the_largest_singular_value(make):
    torch.manual_seed(0)  # the layer is built here, not at collection, so its weights do not depend on test order
    layer = make()
    with torch.no_grad():
        layer.weight.mul_(10.0)
    assert _sigma_max(layer.weight) > 5
    layer = sn(layer, True)
    x = torch.randn(4, 20) if isinstance(layer, nn.Linear) else torch.randn(4, 3, 8, 8)
    for _ in range(30):  # one power iteration per training forward
        layer(x)
    assert _sigma_max(layer.weight) == pytest.approx(1.0, abs=1e-3)


def test_spectral_norm_discriminator_layers_are_all_normalized():
    d = conv_discriminator((1, 8, 8), (4, 8), "none", num_classes=0, spectral=True)
    for _ in range(30):
        d(torch.randn(2, 1, 8, 8))
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 3
    for m in layers:
        assert _sigma_max(m.weight) <= 1.0 + 1e-3


def test_minibatch_std_is_the_group_std_averaged_over_features():
    phi = torch.randn(8, 5)
    out = MinibatchStd(4)(phi)
    groups = phi.view(4, 2, 5)  # sample i belongs to group i % 2, as in ProGAN's reshape
    expected = groups.std(0, unbiased=False).mean(1).repeat(4)
    assert out.shape == (8, 6) and torch.allclose(out[:, 5], expected, atol=1e-6)
    assert torch.equal(out[:, :5], phi)
    assert MinibatchStd(4)(torch.ones(6, 3))[:, 3].max() < 1e-3  # identical samples: no variety; group of 3
    d = conv_discriminator((1, 8, 8), (4, 8), "batch", mbstd=4)
    assert d(torch.randn(8, 1, 8, 8)).shape == (8,) and d.out.in_features == 8 * 2 * 2 + 1


def test_diffaugment_is_deterministic_differentiable_and_shape_preserving():
    x = torch.randn(5, 3, 8, 8, requires_grad=True)
    policy = parse_policy("color,translation,cutout")
    a = diff_augment(x, policy, torch.Generator().manual_seed(0))
    b = diff_augment(x, policy, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    a.sum().backward()
    assert x.grad.abs().sum() > 0


def test_translation_shifts_and_cutout_zeroes_a_square():
    x = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8) + 1
    out = augment_translation(x, torch.Generator().manual_seed(3))
    padded = nn.functional.pad(x, (1, 1, 1, 1))
    assert any(torch.equal(out, padded[..., dy:dy + 8, dx:dx + 8]) for dy in range(3) for dx in range(3))
    cut = augment_cutout(x, torch.Generator().manual_seed(1))
    zeroed = (cut == 0).sum().item()
    assert 0 < zeroed <= 16 and torch.equal(cut[cut != 0], x[cut != 0])


def test_unknown_augment_and_loss_are_clear_errors():
    with pytest.raises(ValueError, match="valid: color, translation, cutout"):
        parse_policy("color,flip")
    with pytest.raises(ValueError, match="valid: ns, minimax, hinge, wgan"):
        d_loss("lsgan", torch.zeros(1), torch.zeros(1))


def test_a_gan_on_a_1d_mixture_learns_all_modes():
    mix = mixture_1d(3)
    config = ToyConfig(loss="ns", steps=800, hidden=32, layers=2, batch_size=128)
    G, log = train_toy_gan(mix, config, seed=0)
    x = toy_samples(G, 2000, config.z_dim)
    assert modes_covered(x, mix) == 3, mode_counts(x, mix)
    assert len(log) == 8 and all(math.isfinite(r["d_loss"]) for r in log)
