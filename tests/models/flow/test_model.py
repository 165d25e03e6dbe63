"""The `flow` family beyond the shared contract: the whole flow inverts and its log-determinant equals the
autograd Jacobian's; nll and bits/dim follow genlab.eval.likelihood's "continuous" convention on a
hand-computed case; temperature 0 samples the decoded zero latent; bad configurations fail in one line."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.config import ConfigError
from genlab.data.base import Batch, DataSpec
from genlab.eval.likelihood import evaluate_likelihood
from genlab.models import build_model
from genlab.models.flow.layers import ActNorm
from genlab.nn.distributions import dequantize
from tests.conftest import TINY, tiny_images


def flow(shape=(1, 8, 8), **extra):
    torch.manual_seed(0)
    return build_model("flow", {**TINY["flow"], **extra}, shape=shape)


def warm(model, shape, seed=0):
    """Initialize the ActNorms on a batch of random pixels (what the first training batch does)."""
    model.nll(torch.rand(16, *shape, generator=torch.Generator().manual_seed(seed)))
    return model


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("extra", [{}, {"logit_alpha": 0.0}, {"levels": 3}, {"zero_init": True}])
def test_the_whole_flow_inverts(extra):
    model = warm(flow(**extra), (1, 8, 8)).eval()
    x = torch.rand(5, 1, 8, 8, generator=gen(1)).clamp(0.01, 0.99)
    z = model.encode(x)
    assert z.shape == (5, 64)
    assert (model.decode(z) - x).abs().max() < 1e-4
    # the latent direction, before decode clamps to [0, 1]; in float64, as sigmoid saturates near 0 and 1
    z, model = torch.randn(5, 64, generator=gen(2), dtype=torch.float64), model.double()
    with torch.no_grad():
        assert (model.forward_flow(model.inverse_flow(z))[0] - z).abs().max() < 1e-8


@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 4, 4)])
def test_log_density_matches_the_autograd_jacobian(shape):
    model = warm(flow(shape), shape).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen(3), dtype=p.dtype))
    y = torch.rand(1, *shape, generator=gen(4), dtype=torch.float64).clamp(0.02, 0.98)
    z, logdet = model.forward_flow(y)
    jac = torch.autograd.functional.jacobian(lambda t: model.forward_flow(t.view_as(y))[0].flatten(), y.flatten())
    ref = torch.linalg.slogdet(jac)[1]
    assert logdet.item() == pytest.approx(ref.item(), abs=1e-7)
    d = math.prod(shape)
    log_n = -0.5 * z.pow(2).sum() - 0.5 * d * math.log(2 * math.pi)
    assert model.nll(y).item() == pytest.approx(-(log_n + ref).item(), abs=1e-7)


def identity_flow(shape=(1, 8, 8)):
    """A flow that is exactly v = y - 1/2 followed by a permutation: ActNorms and 1x1 convs at the identity,
    couplings with sigmoid(r + 2) = 1 (a large bias on r), priors N(0, 1)."""
    model = flow(shape, logit_alpha=0.0, zero_init=True).double()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ActNorm):
                m.initialized.fill_(True)
        for level in model.levels:
            for step in level.steps:
                c = step.conv.eye.shape[0]
                step.conv.p.copy_(torch.eye(c)); step.conv.sign_s.fill_(1.0)  # noqa: E702
                step.conv.lower.zero_(); step.conv.upper.zero_(); step.conv.log_s.zero_()  # noqa: E702
                last = step.coupling.net[-1]
                last.bias[last.bias.shape[0] // 2:] = 100.0  # log sigmoid(102) = -5e-45
    return model


def test_nll_and_bits_per_dim_on_a_hand_computed_case():
    model = identity_flow()
    d = 64
    x = tiny_images(8).images().double()
    y = dequantize(x, gen(5)).double()
    gauss = 0.5 * (y - 0.5).pow(2).flatten(1).sum(1) + 0.5 * d * math.log(2 * math.pi)  # -log N(y - 1/2; 0, I)
    assert torch.allclose(model.nll(y), gauss, atol=1e-10)
    # genlab.eval.likelihood dequantizes with the generator and adds D log 256 (the 8-bit bound)
    out = evaluate_likelihood(model, x, generator=gen(5))
    expected_nats = gauss.mean().item() + d * math.log(256)
    assert out["nll_nats"] == pytest.approx(expected_nats, rel=1e-9)
    assert out["bits_per_dim"] == pytest.approx(gauss.mean().item() / (d * math.log(2)) + 8, rel=1e-9)
    assert out["likelihood_label"].startswith("exact NLL")
    # training reports the same bits/dim for the same dequantization noise
    losses = model.training_losses(Batch(x, None), generator=gen(5))
    assert losses["bpd"].item() == pytest.approx(out["bits_per_dim"], rel=1e-9)
    assert torch.equal(losses["loss"].detach(), losses["bpd"])


def test_variational_nll_is_the_bound_at_the_8_bit_level():
    model = flow(dequantization="variational")
    x = tiny_images(4).images()
    y = dequantize(x, gen(0))
    k = (x * 255).round()
    assert torch.equal((y * 256).floor(), k)  # nll reads the 8-bit level back from y ...
    a, b = model.nll(y, generator=gen(1)), model.nll(x, generator=gen(1))  # ... or from x = k / 255
    assert torch.allclose(a, b)
    u, log_q = model.dequantizer(k / 255, gen(1))
    ref = -model.log_density((k + u) / 256) + log_q
    assert torch.allclose(a, ref)
    assert not model.likelihood_exact
    losses = model.training_losses(Batch(x, None), generator=gen(2))
    losses["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.dequantizer.parameters())


def test_importance_weighted_variational_bound():
    # k draws of u: -log mean_s w_s with w_s = p((l + u_s) / 256) / q(u_s | l); the first draw is the k = 1 bound,
    # and in expectation the bound tightens with k (Burda et al. 2016)
    model = flow(dequantization="variational").eval()
    x = tiny_images(6).images()
    with torch.no_grad():
        draws = torch.stack([model.nll(x, generator=gen(s)) for s in range(32)])  # (32, b): k = 1 bounds
        g = gen(7)
        singles = torch.stack([model.nll(x, generator=g) for _ in range(4)])
        iw = model.nll(x, generator=gen(7), k=4)
    assert torch.allclose(iw, -(torch.logsumexp(-singles, 0) - math.log(4)), atol=1e-4)
    assert (iw <= singles.mean(0) + 1e-4).all()  # log-mean-exp >= mean (Jensen), draw by draw
    with torch.no_grad():
        iw16 = torch.stack([model.nll(x, generator=gen(100 + s), k=16) for s in range(4)]).mean(0)
    assert (iw16 < draws.mean(0)).all()
    assert model.likelihood_options == ("k",) and flow().likelihood_options == ()
    ev = evaluate_likelihood(model, x, k=4, generator=gen(0))
    assert ev["likelihood_k"] == 4 and "k=4" in ev["likelihood_label"]
    assert "learned q(u|x)" in ev["likelihood_label"] and "uniformly" not in ev["likelihood_label"]
    assert "uniformly dequantized" in evaluate_likelihood(flow(), x, generator=gen(0))["likelihood_label"]
    with pytest.raises(ValueError, match="takes no k"):
        evaluate_likelihood(flow(), x, k=4)
    with pytest.raises(ValueError, match="must be >= 1"):
        model.nll(x, k=0)


def test_temperature_zero_samples_the_decoded_zero_latent():
    model = warm(flow(), (1, 8, 8)).eval()
    cold = model.sample(3, generator=gen(0), temperature=0).x
    assert torch.equal(cold, model.decode(torch.zeros(3, 64)))
    assert torch.equal(cold[0], cold[2])
    warm_ = model.sample(3, generator=gen(0), temperature=1.0).x
    hot = model.sample(3, generator=gen(0), temperature=0.5).x
    assert not torch.equal(warm_[0], warm_[1]) and not torch.equal(hot, warm_)
    z = torch.randn(3, 64, generator=gen(0)) * 0.5  # T scales the latent the same generator draws
    assert torch.allclose(hot, model.decode(z))
    assert flow(temperature=0.0).sample(2, generator=gen(0)).x.std(0).max() == 0  # the config's default T


def test_loaded_weights_keep_their_actnorm_init():
    model = flow()
    model.training_losses(Batch(tiny_images(16).images(), None), generator=gen(0))
    other = flow()
    other.load_state_dict(model.state_dict())
    x = torch.rand(4, 1, 8, 8, generator=gen(9))  # a batch another init would have standardized differently
    assert torch.equal(other.nll(x), model.nll(x))


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def test_image_side_not_divisible_names_the_fix():
    with pytest.raises(ValueError) as e:
        build_model("flow", {"levels": 3}, shape=(1, 28, 28))
    assert "divisible by 8, got 28x28; use levels <= 2" in one_line(e)
    with pytest.raises(ValueError) as e:
        build_model("flow", {"preset": "tiny"}, shape=(3, 7, 7))
    assert "pad or resize the images to an even size" in one_line(e)


def test_non_image_data_is_refused_in_one_line():
    spec = DataSpec(kind="tokens")
    with pytest.raises(ValueError) as e:
        build_model("flow", TINY["flow"], spec=spec)
    assert one_line(e).startswith("a flow model trains on image data, not tokens")


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="unknown dequantization 'gaussian'; valid: uniform, variational"):
        build_model("flow", {"dequantization": "gaussian"}, shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="logit_alpha must be >= 0 and < 0.5"):
        build_model("flow", {"logit_alpha": 0.5}, shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="temperature must be >= 0"):
        build_model("flow", {"temperature": -1.0}, shape=(1, 8, 8))
    with pytest.raises(ValueError) as e:
        flow().sample(2, temperature=-0.5)
    assert "temperature must be a finite number >= 0" in one_line(e)


def test_default_preset_fits_mnist():
    model = build_model("flow", {}, shape=(1, 28, 28))
    assert [s for s in model.latent_shapes] == [(2, 14, 14), (8, 7, 7)]
    assert sum(math.prod(s) for s in model.latent_shapes) == 784
    assert model.likelihood_exact and model.likelihood_kind == "continuous"


def test_under_bf16_autocast_only_the_coupling_networks_lose_precision():
    model = warm(flow(), (1, 8, 8))
    y = torch.rand(6, 1, 8, 8, generator=gen(7))
    z32, ld32 = model.forward_flow(y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z16, ld16 = model.forward_flow(y)
        losses = model.training_losses(Batch(y, None), generator=gen(0))
        conv, h = model.levels[0].steps[0].conv, torch.randn(2, 4, 4, 4, generator=gen(8))
        assert conv.weight().dtype == torch.float32  # W, whose log|det| is sum(log_s), is not rounded
        mixed16 = conv(h)[0]
    assert torch.equal(mixed16, conv(h)[0])  # the 1x1 conv computes the same as without autocast
    assert z16.dtype == ld16.dtype == torch.float32 and torch.isfinite(losses["loss"])
    assert (z16 - z32).abs().max() < 0.05 and (ld16 - ld32).abs().max() < 0.05 * ld32.abs().max()
    # each coupling is still a bijection, but bf16 rounds the network's input, so the inverse only matches
    # the forward pass to about the networks' precision: train in bf16, sample and evaluate in fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (model.inverse_flow(z16) - y).abs().max() < 1e-2
    assert (model.inverse_flow(z32) - y).abs().max() < 1e-4


def test_a_run_trains_loads_and_keeps_its_actnorm_init(tmp_path):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import load_run, train

    tc = TrainConfig(steps=4, batch_size=8, ema_decay=0.5, log_every=2, progress=False, seed=0)
    result = train(RunConfig("flow", TINY["flow"], DataConfig("tiny"), tc), tmp_path / "run", data=tiny_images(32))
    assert torch.isfinite(torch.tensor(result.history[-1]["bpd"]))
    run = load_run(tmp_path / "run")  # the EMA weights, ActNorm flags included
    norms = [m for m in run.model.modules() if isinstance(m, ActNorm)]
    assert norms and all(bool(m.initialized) for m in norms)
    x = tiny_images(8, seed=3).images()
    assert torch.allclose(run.model.nll(x), result.model.float().cpu().nll(x))  # the trained (EMA) model, as saved
    assert run.model.sample(4, generator=gen(0)).x.shape == (4, 1, 8, 8)
    assert evaluate_likelihood(run.model, x, generator=gen(0))["bits_per_dim"] > 0


def test_a_run_saved_before_the_log_scale_bound_loads_unbounded(tmp_path):
    """config.json of a run trained before `log_scale_bound` existed has no such key: it loads with 0, the
    function it was trained as, not with today's default."""
    import json

    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import load_run, read_run_config, train

    tc = TrainConfig(steps=2, batch_size=8, log_every=1, progress=False, seed=0)
    train(RunConfig("flow", TINY["flow"], DataConfig("tiny"), tc), tmp_path / "run", data=tiny_images(32))
    assert load_run(tmp_path / "run").model.config.log_scale_bound == 6.0  # written by today's genlab
    file = tmp_path / "run" / "config.json"
    raw = json.loads(file.read_text())
    del raw["model"]["log_scale_bound"]
    file.write_text(json.dumps(raw))
    assert read_run_config(tmp_path / "run")[0]["model"]["log_scale_bound"] == 0.0
    assert load_run(tmp_path / "run").model.config.log_scale_bound == 0.0


def test_the_default_zero_initialized_flow_learns():
    """Zero last layers give the coupling networks no gradient on the first step only (the contract's tiny
    options turn zero_init off for that reason); the loss still falls."""
    model = flow(zero_init=True)
    batch = Batch(tiny_images(16).images(), None)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(60):
        opt.zero_grad()
        loss = model.training_losses(batch, generator=gen(step))["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first = model.levels[0].steps[0].coupling.net[0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0  # reached after the last layer left zero
    assert sum(losses[-5:]) / 5 < 0.85 * losses[0]


def test_samples_whose_inverse_overflows_are_drawn_again(monkeypatch):
    model = warm(flow(), (1, 8, 8)).eval()
    inverse, calls = model.inverse_flow, []

    def overflowing_first(z, labels=None):  # the first decode: row 1 overflows, as a far-tail z can
        x = inverse(z, labels)
        if not calls:
            x[1] = float("nan")
        calls.append(len(z))
        return x

    monkeypatch.setattr(model, "inverse_flow", overflowing_first)
    x = model.sample(4, generator=torch.Generator().manual_seed(0)).x
    assert torch.isfinite(x).all() and calls == [4, 1]  # only the bad row is drawn again
    monkeypatch.setattr(model, "inverse_flow", lambda z, labels=None: torch.full((len(z), 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="4 of 4 samples overflow float32 after 10 redraws"):
        model.sample(4)


def conditional_flow(shape=(1, 8, 8), classes=3):
    torch.manual_seed(0)
    model = build_model("flow", {**TINY["flow"], "conditional": True}, shape=shape, num_classes=classes)
    model.nll(torch.rand(16, *shape, generator=gen(0)), torch.arange(16) % classes)  # ActNorm init
    with torch.no_grad():  # classes apart, as training makes them
        model.class_prior.mean.normal_(0.0, 1.0, generator=gen(5))
        model.class_prior.log_sigma.normal_(0.0, 0.3, generator=gen(6))
    return model


def test_a_conditional_flow_inverts_and_its_log_density_matches_the_autograd_jacobian():
    model = conditional_flow((1, 4, 4)).double()
    labels = torch.tensor([2])
    y = torch.rand(1, 1, 4, 4, generator=gen(4), dtype=torch.float64).clamp(0.02, 0.98)
    z, logdet = model.forward_flow(y, labels)
    jac = torch.autograd.functional.jacobian(lambda t: model.forward_flow(t.view_as(y), labels)[0].flatten(),
                                             y.flatten())
    assert logdet.item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), abs=1e-7)
    with torch.no_grad():
        assert (model.inverse_flow(z, labels) - y).abs().max() < 1e-8
        other = model.forward_flow(y, torch.tensor([0]))[0]
    assert (other - z).abs().max() > 0.1  # the class moves the latent: the prior is each class's own
    assert model.nll(y, labels).item() == pytest.approx(
        (0.5 * z.pow(2).sum() + 8 * math.log(2 * math.pi) - logdet.sum()).item(), abs=1e-7)


def test_a_conditional_flow_samples_each_class_and_needs_labels():
    model = conditional_flow().eval()
    s = model.sample(6, generator=gen(1), temperature=0.0)
    assert s.y.tolist() == [0, 1, 2, 0, 1, 2]  # every class in turn
    assert torch.equal(s.x[0], s.x[3]) and not torch.equal(s.x[0], s.x[1])  # T = 0: each class's mode
    twos = model.sample(2, cond=2, generator=gen(1), temperature=0.0)
    assert torch.allclose(twos.x[0], s.x[2], atol=1e-5) and twos.y.tolist() == [2, 2]
    x = torch.rand(4, 1, 8, 8, generator=gen(2))
    for call in (lambda: model.nll(x), lambda: model.encode(x)):
        with pytest.raises(ValueError, match="this flow model is conditional: pass labels"):
            call()
    with pytest.raises(ValueError, match="a conditional flow needs labelled data"):
        build_model("flow", {**TINY["flow"], "conditional": True}, shape=(1, 8, 8))


def test_a_conditional_flow_trains_its_class_prior_and_reports_the_marginal_likelihood():
    model = conditional_flow(classes=2)
    with torch.no_grad():
        model.class_prior.mean.zero_()
        model.class_prior.log_sigma.zero_()
    x = torch.rand(8, 1, 8, 8, generator=gen(3))
    y = torch.tensor([0, 1] * 4)
    loss = model.training_losses(Batch(x, y), generator=gen(4))["loss"]
    loss.backward()
    assert model.class_prior.mean.grad[0].abs().sum() > 0 and model.class_prior.mean.grad[1].abs().sum() > 0
    # with both classes' priors equal, p(x) = sum_y p(y) p(x | y) = p(x | y) for any y
    from genlab.models.likelihood import marginal_nll

    with torch.no_grad():
        got = marginal_nll(model, x[:3])
        assert torch.allclose(got.float(), model.nll(x[:3], torch.zeros(3, dtype=torch.long)), atol=1e-4)


def test_the_marginal_likelihood_of_a_model_of_some_classes_is_over_those_classes():
    """Trained on classes 0 and 2 of 3 (--classes 0 2), p(x) = (p(x | 0) + p(x | 2)) / 2: class 1, never seen,
    has no prior mass; samples cycle through 0 and 2."""
    from genlab.models.likelihood import label_log_prior, marginal_nll

    model = conditional_flow(classes=3)
    model.kept_classes = (0, 2)
    assert torch.isinf(label_log_prior(model)[1]) and torch.allclose(label_log_prior(model)[[0, 2]].exp(),
                                                                       torch.tensor([0.5, 0.5], dtype=torch.float64))
    x = torch.rand(4, 1, 8, 8, generator=gen(7))
    with torch.no_grad():
        per = torch.stack([model.nll(x, torch.full((4,), c)).double() for c in (0, 2)], 1)
        want = -torch.logsumexp(math.log(0.5) - per, 1)
        assert torch.allclose(marginal_nll(model, x), want, atol=1e-6)
        assert model.sample(5, generator=gen(8)).y.tolist() == [0, 2, 0, 2, 0]
    label = evaluate_likelihood(model, x, generator=gen(9))["likelihood_label"]
    assert "p(y) uniform over the labels it was trained on, [0, 2]" in label
