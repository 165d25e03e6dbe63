"""pixelcnn: the exact likelihood (by hand, normalized, in bits/dim), sampling and its agreement with the
network, inpainting (known pixels kept, only raster-order suffixes), options and refusals."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genlab.config import ConfigError
from genlab.data.base import Batch, DataSpec, Vocab
from genlab.models import build_model
from genlab.models.pixelcnn import PixelCNN, PixelCNNConfig
from genlab.nn.distributions import LN2, bits_per_dim, nats_to_bits
from tests.conftest import tiny_images


def model_of(shape=(1, 8, 8), classes: int = 0, **options) -> PixelCNN:
    torch.manual_seed(0)
    opts = {"layers": 3, "channels": 8, "kernel": 3, "first_kernel": 3, **options}
    return build_model("pixelcnn", opts, shape=shape, num_classes=classes).eval()


def gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # the sampler's checks also run on a GPU


def levels(shape, seed: int = 0) -> torch.Tensor:
    """Random 8-bit images as floats k / 255."""
    return torch.randint(0, 256, shape, generator=gen(seed)).float() / 255.0


# --- likelihood ---------------------------------------------------------------------------------------
def test_nll_is_the_sum_of_per_pixel_cross_entropies():
    model = model_of((1, 3, 3))
    x = levels((2, 1, 3, 3))
    with torch.no_grad():
        logits = model.net(2 * x - 1)  # (2, 1, 256, 3, 3)
    by_hand = torch.zeros(2)
    for b, r, q in itertools.product(range(2), range(3), range(3)):
        k = round(float(x[b, 0, r, q]) * 255)
        by_hand[b] -= torch.log_softmax(logits[b, 0, :, r, q], 0)[k]
    assert torch.allclose(model.nll(x), by_hand, rtol=1e-5)
    assert model.likelihood_kind == "discrete" and model.likelihood_exact


@pytest.mark.parametrize("conditional", [False, True])
def test_bernoulli_probabilities_sum_to_one_over_every_image(conditional):
    # 2^9 binary 3x3 images: an exact likelihood (a causal model) sums to exactly 1, for every class
    model = model_of((1, 3, 3), classes=3 if conditional else 0, likelihood="bernoulli", conditional=conditional)
    assert model.likelihood_kind == "binary"
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=9))).view(512, 1, 3, 3)
    for label in range(3 if conditional else 1):
        y = torch.full((512,), label) if conditional else None
        total = torch.exp(-model.nll(x, y).double()).sum()
        assert total.item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("shape", [(1, 2, 2), (3, 1, 2)])
def test_logistic_conditionals_sum_to_one_and_match_the_sampler(shape):
    # the last position's conditional over its 256 levels, the rest fixed, is a distribution; the sampler's
    # per-level table (what it draws from) equals the likelihood of each level; greedy sampling takes its argmax
    model = model_of(shape, likelihood="logistic", mixtures=3)
    assert model.likelihood_kind == "discrete" and model.net.outputs == 9
    x = levels((1, *shape)).repeat(256, 1, 1, 1)
    x[:, -1, -1, -1] = torch.arange(256) / 255.0
    with torch.no_grad():
        last = model.log_probs(x)[:, -1, -1, -1]  # (256,) log p(level | the rest)
        head = model.net(2 * x[:1] - 1)[0, -1, :, -1, -1]  # (3K,) the head's outputs for that position
    assert torch.exp(last.double()).sum().item() == pytest.approx(1.0, abs=1e-5)
    from genlab.models.pixelcnn.model import LEVELS
    from genlab.nn.distributions import discretized_logistic_mixture_log_likelihood
    table = discretized_logistic_mixture_log_likelihood(LEVELS.view(1, 256), *(p.unsqueeze(1) for p in head.view(
        1, -1).chunk(3, -1)))[0]
    assert torch.allclose(table, last, atol=1e-4)
    out = model.sample(2, generator=gen(), temperature=0.0).x
    with torch.no_grad():
        best = model.log_probs(out.repeat_interleave(256, 0).index_put_(
            (torch.arange(512), torch.full((512,), shape[0] - 1), torch.full((512,), shape[1] - 1),
             torch.full((512,), shape[2] - 1)), (torch.arange(256) / 255.0).repeat(2)))[:, -1, -1, -1].view(2, 256)
    assert torch.equal(best.argmax(1), (out[:, -1, -1, -1] * 255).round().long())


def test_logistic_mixture_is_finite_at_extreme_scales_and_sums_to_one():
    from genlab.nn.distributions import discretized_logistic_mixture_log_likelihood

    grid = torch.linspace(-1.0, 1.0, 256).view(1, 256)
    for log_s in (-20.0, -7.0, -3.0, 0.0, 4.0):
        w, m = torch.randn(4, 1, 5, generator=gen()), 2.0 * torch.randn(4, 1, 5, generator=gen(1))
        lp = discretized_logistic_mixture_log_likelihood(grid, w, m, torch.full((4, 1, 5), log_s))
        assert torch.isfinite(lp).all()
        assert torch.allclose(lp.double().exp().sum(1), torch.ones(4, dtype=torch.float64), atol=1e-4)
    # one sharp component (the smallest scale, e^-7) at level 0 puts nearly all mass there, at 255 likewise; at
    # 0, the edge between levels 127 and 128, it splits its mass between them
    for mean, level in ((-1.0, 0), (1.0, 255), (0.0, 127.5)):
        lp = discretized_logistic_mixture_log_likelihood(grid, torch.zeros(1, 1, 1), torch.full((1, 1, 1), mean),
                                                         torch.full((1, 1, 1), -7.0))
        top = lp.exp()[0].topk(2).indices.sort().values
        assert (top == torch.tensor([127, 128])).all() if level == 127.5 else lp.exp()[0, level] > 0.95


def test_rgb_probabilities_sum_to_one_over_every_image():
    # channels are ordered within a pixel: 2 pixels x 3 channels of binary values = 64 images
    model = model_of((3, 1, 2), likelihood="bernoulli")
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6))).view(64, 1, 2, 3).permute(0, 3, 1, 2)
    assert torch.exp(-model.nll(x).double()).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_bits_per_dim_agree_with_genlab_nn_distributions():
    from genlab.eval.likelihood import evaluate_likelihood

    model = model_of()
    x = levels((4, 1, 8, 8))
    nats = model.nll(x)
    losses = model.training_losses(Batch(x, None))
    assert losses["loss"].item() == pytest.approx(nats.mean().item() / 64, rel=1e-5)  # nats per dimension
    assert losses["bits_per_dim"].item() == pytest.approx(float(bits_per_dim(nats.mean(), 64)), rel=1e-5)
    assert losses["bits_per_dim"].item() == pytest.approx(float(nats_to_bits(nats.mean())) / 64, rel=1e-5)
    ev = evaluate_likelihood(model, x, batch_size=3)
    assert ev["likelihood_data"] == "discrete" and ev["likelihood_label"].startswith("exact NLL; 8-bit data")
    assert ev["nll_nats"] == pytest.approx(nats.double().mean().item(), rel=1e-5)
    assert ev["bits_per_dim"] == pytest.approx(nats.double().mean().item() / (64 * LN2), rel=1e-5)
    # an untrained model is close to uniform over 256 levels: about 8 bits/dim
    assert 7.5 < ev["bits_per_dim"] < 9.0


def test_bernoulli_likelihood_on_binarized_data():
    from genlab.eval.likelihood import evaluate_likelihood

    model = model_of(likelihood="bernoulli")
    x = tiny_images(4).images()
    ev = evaluate_likelihood(model, x, binarized="dynamic", generator=gen())
    assert ev["likelihood_data"] == "binary" and "dynamic binarization" in ev["likelihood_label"]
    assert 0 < ev["nll_nats"] and ev["bits_per_dim"] == pytest.approx(ev["nll_nats"] / (64 * math.log(2)))


def test_bernoulli_refuses_grey_levels_in_one_line():
    model = model_of(likelihood="bernoulli")
    with pytest.raises(ValueError, match="binary pixels but got grey levels; train with --binarize dynamic") as e:
        model.training_losses(Batch(tiny_images(4).images(), None))
    assert "\n" not in str(e.value)


# --- sampling -----------------------------------------------------------------------------------------
def test_sampling_is_reproducible_with_a_generator():
    model = model_of()
    a, b, c = (model.sample(3, generator=gen(s)).x for s in (5, 5, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (3, 1, 8, 8) and torch.equal((a * 255).round() / 255, a)  # 8-bit levels


@pytest.mark.parametrize("shape", [(1, 12, 5), (3, 9, 4)])
def test_the_pixel_by_pixel_sampler_matches_the_full_network(shape):
    # greedy sampling picks the argmax of each conditional; the full network on the result must agree at every
    # position: the sampler's row crops (taller images than the reach), row prefixes and channel head are exact
    model = model_of(shape, layers=2)
    assert shape[1] > model.net.reach + 2
    x = model.sample(4, generator=gen(), temperature=0.0).x
    with torch.no_grad():
        best = model.net(2 * x - 1).argmax(2)  # (b, c, h, w)
    assert torch.equal(best, (x * 255).round().long())


def drawn_logits(model: PixelCNN, monkeypatch) -> list[torch.Tensor]:
    """Record the (b, K) logits the sampler draws each value from, in drawing order."""
    seen: list[torch.Tensor] = []
    log_masses = model._log_masses

    def spy(logits):
        seen.append(logits.clone())
        return log_masses(logits)

    monkeypatch.setattr(model, "_log_masses", spy)
    return seen


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("classes", [0, 3])
def test_the_cached_sampler_gives_the_full_networks_logits_beyond_every_reach(classes, device, monkeypatch):
    # rows taller and rows wider than the stacks reach, a wide first kernel, a class embedding, and an inpainting
    # that starts in the middle of a row (the cache is first filled from the known rows and the known pixels)
    model = model_of((1, 13, 15), classes, layers=3, first_kernel=7, conditional=classes > 0).to(device)
    assert model.net.reach + 2 < 13 and 3 + 1 + 1 + 2 < 15  # vertical reach; first p + later p's + the shift
    seen = drawn_logits(model, monkeypatch)
    out = model.sample(3, generator=gen(0, device))
    with torch.no_grad():
        full = model.net(2 * out.x - 1, out.y if classes else None)[:, 0]  # (b, 256, h, w)
    assert len(seen) == 13 * 15
    torch.testing.assert_close(torch.stack(seen, -1), full.flatten(2), atol=1e-5, rtol=1e-5)
    known = levels((3, 1, 13, 15)).to(device)
    mask = torch.zeros(3, 1, 13, 15, device=device)
    start = 7 * 15 + 6  # row 7, column 6
    mask.view(3, -1)[:, start:] = 1
    seen.clear()
    filled = model.inpaint(known, mask, generator=gen(0, device), cond=out.y if classes else None)
    fill = mask.bool()
    assert torch.equal(filled[~fill], known[~fill]) and len(seen) == 13 * 15 - start
    with torch.no_grad():
        full = model.net(2 * filled - 1, out.y if classes else None)[:, 0].flatten(2)[..., start:]
    torch.testing.assert_close(torch.stack(seen, -1), full, atol=1e-5, rtol=1e-5)


def test_temperature_and_labels():
    model = model_of(classes=4, conditional=True)
    out = model.sample(4, generator=gen())
    assert torch.equal(out.y, torch.arange(4))
    out = model.sample(2, cond=3, generator=gen(), temperature=0.5)
    assert torch.equal(out.y, torch.tensor([3, 3]))
    hot, cold = (model.sample(2, cond=1, generator=gen(), temperature=t).x for t in (1.0, 0.0))
    assert not torch.equal(hot, cold)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        model.sample(1, generator=gen(), temperature=-1.0)
    with pytest.raises(ValueError, match="labels must be 2 class indices in \\[0, 4\\)"):
        model.sample(2, cond=[0, 7])


def test_bernoulli_samples_are_binary():
    x = model_of(likelihood="bernoulli").sample(3, generator=gen()).x
    assert set(x.unique().tolist()) <= {0.0, 1.0}


# --- inpainting ---------------------------------------------------------------------------------------
def test_inpaint_keeps_known_pixels_and_fills_the_rest_from_the_conditionals():
    model = model_of()
    x = levels((3, 1, 8, 8))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 5:, :] = 1  # the lower part
    out = model.inpaint(x, mask, generator=gen(), temperature=0.0)
    keep = (mask == 0).expand_as(x)
    assert torch.equal(out[keep], x[keep]) and not torch.equal(out, x)
    with torch.no_grad():
        best = model.net(2 * out - 1).argmax(2)  # greedy completion: the argmax given everything before
    assert torch.equal(best[~keep], (out * 255).round().long()[~keep])


def test_inpaint_accepts_every_raster_suffix_and_no_other_mask():
    model = model_of()
    x = levels((2, 1, 8, 8))
    mask = torch.zeros(2, 1, 8, 8)
    mask[0].view(-1)[29:] = 1  # from the middle of row 3 on
    mask[1].view(-1)[50:] = 1  # a later start in the second image
    out = model.inpaint(x, mask, generator=gen())
    assert torch.equal(out[mask == 0], x[mask == 0])
    assert torch.equal(model.inpaint(x, torch.zeros(8, 8), generator=gen()), x)  # nothing to fill in
    right = torch.zeros(1, 1, 8, 8)
    right[..., 4:] = 1
    with pytest.raises(ValueError, match=r"raster order .* hides \(row 0, column 4\) and keeps \(row 7, column 3\) "
                                         r"after it; use a mask that hides the lower part") as e:
        model.inpaint(x, right)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="only 0 \\(keep\\) and 1"):
        model.inpaint(x, mask * 0.5)


def test_inpaint_rgb_names_the_channel():
    model = model_of((3, 4, 4))
    x = levels((1, 3, 4, 4))
    mask = torch.zeros(1, 3, 4, 4)
    mask[:, 1:, 2:] = 1  # the lower half of G and B, but R is known there: G at (2, 0) precedes R at (2, 1)
    refused = r"hides \(row 2, column 0, channel 1\) and keeps \(row 3, column 3, channel 0\)"
    with pytest.raises(ValueError, match=refused):
        model.inpaint(x, mask)
    mask[:, 0, 2:] = 1
    out = model.inpaint(x, mask, generator=gen())
    assert torch.equal(out[mask == 0], x[mask == 0])


def test_inpaint_through_the_app():
    from genlab.apps.inpaint import inpaint, inpaint_families, named_mask

    assert "pixelcnn" in inpaint_families()
    x = tiny_images(2).images()
    out = inpaint(model_of(), x, named_mask("bottom", (1, 8, 8)), generator=gen())
    assert torch.equal(out[..., :4, :], x[..., :4, :])


# --- options and refusals -----------------------------------------------------------------------------
def test_refuses_tokens_in_one_line():
    spec = DataSpec("tokens", vocab=Vocab.of_text("abc"))
    with pytest.raises(ValueError, match="a pixelcnn model trains on image data, not tokens") as e:
        build_model("pixelcnn", {"preset": "tiny"}, spec=spec)
    assert "\n" not in str(e.value)


def test_options_are_checked():
    with pytest.raises(ConfigError, match="unknown kernel 4; valid: 3, 5, 7"):
        build_model("pixelcnn", {"kernel": 4}, shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="unknown likelihood 'gaussian'"):
        build_model("pixelcnn", {"likelihood": "gaussian"}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="a conditional pixelcnn needs labelled data"):
        build_model("pixelcnn", {"conditional": True}, shape=(1, 8, 8))
    assert PixelCNNConfig().sizes() == {"layers": 8, "channels": 48}
    assert PixelCNNConfig(preset="tiny", layers=3).sizes() == {"layers": 3, "channels": 8}


def test_conditional_model_needs_labels_for_its_likelihood():
    model = model_of(classes=4, conditional=True)
    x = levels((2, 1, 8, 8))
    with pytest.raises(ValueError, match="this pixelcnn model is conditional: pass labels"):
        model.nll(x)
    a, b = model.nll(x, torch.tensor([0, 0])), model.nll(x, torch.tensor([1, 1]))
    assert not torch.allclose(a, b)  # the label changes the likelihood
    # an unconditional model ignores labels
    plain = model_of()
    assert torch.equal(plain.nll(x, torch.tensor([0, 1])), plain.nll(x))



def test_sampling_and_inpainting_report_every_pixel():
    model, calls = model_of(shape=(1, 4, 4)), []
    model.sample(2, generator=gen(), progress=lambda *a: calls.append(a))
    assert calls == [("pixel", k, 16) for k in range(17)]
    calls.clear()
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 2:, :] = 1  # the lower half: 8 pixels from pixel 8 on
    model.inpaint(torch.zeros(1, 1, 4, 4), mask, generator=gen(), progress=lambda *a: calls.append(a))
    assert calls == [("pixel", k, 8) for k in range(9)]


def test_a_conditional_stack_stays_in_bf16_under_autocast():
    # the class embedding is fp32; added as it is, it lifted each bf16 stack to fp32 (12% slower a bf16 step)
    model = model_of(classes=3, conditional=True)
    layer = model.net.layers[1]
    y = torch.tensor([0, 2])
    with torch.autocast("cpu", torch.bfloat16):
        v, link = layer.vertical(torch.randn(2, 8, 8, 8, dtype=torch.bfloat16), y)  # the stacks as layer 0 left them
        h, skip = layer.horizontal(torch.randn(2, 8, 8, 8, dtype=torch.bfloat16), link, y)
    assert v.dtype == link.dtype == h.dtype == skip.dtype == torch.bfloat16


# --- classifier-free guidance -------------------------------------------------------------------------
def guided_model(shape=(2, 6, 5), likelihood: str = "categorical") -> PixelCNN:
    model = model_of(shape, 3, layers=2, conditional=True, cond_drop=0.2, likelihood=likelihood)
    with torch.no_grad():  # embeddings far from 0, so that the label and its absence differ
        for layer in model.net.layers:
            layer.embed.weight.normal_(0, 2, generator=gen(1))
        model.net.head_out.weight.mul_(30)  # and the argmax led by the features, not the output bias
    return model


def test_label_minus_one_is_the_network_without_its_class_embedding():
    model = guided_model()
    x = levels((3, 2, 6, 5))
    with torch.no_grad():
        assert torch.allclose(model.net(2 * x - 1, torch.full((3,), -1)), model.net(2 * x - 1, None), atol=1e-6)
        mixed = model.net(2 * x - 1, torch.tensor([2, -1, 0]))
        assert torch.allclose(mixed[1], model.net(2 * x[1:2] - 1, None)[0], atol=1e-6)
        assert torch.allclose(mixed[[0, 2]], model.net(2 * x[[0, 2]] - 1, torch.tensor([2, 0])), atol=1e-6)


def test_cond_drop_trains_a_fraction_of_the_images_without_their_label():
    model = guided_model().train()
    x, y = levels((64, 2, 6, 5)), torch.arange(64) % 3
    loss = model.training_losses(Batch(x, y), generator=gen(7))["loss"]
    drop = torch.rand(64, generator=gen(7)) < 0.2  # the same draw
    assert 0 < drop.sum() < 64
    by_hand = -model.log_probs(x, torch.where(drop, -1, y)).flatten(1).sum(1).mean() / x[0].numel()
    torch.testing.assert_close(loss, by_hand)
    assert not torch.allclose(loss, -model.log_probs(x, y).flatten(1).sum(1).mean() / x[0].numel())


@pytest.mark.parametrize("likelihood", ["categorical", "bernoulli", "logistic"])
@pytest.mark.parametrize("w", [0.0, 3.0])
def test_guided_greedy_samples_take_the_argmax_of_the_guided_log_probabilities(w, likelihood):
    # temperature 0 draws the argmax of log p_u + w (log p_c - log p_u) at every position; recomputed here from
    # the full network on the finished images (with their labels, and with none)
    model = guided_model(likelihood=likelihood)
    out = model.sample(4, cond=torch.tensor([0, 1, 2, 1]), generator=gen(), temperature=0.0, guidance=w)
    x_in = 2 * out.x - 1
    with torch.no_grad():
        cond, uncond = model.net(x_in, out.y), model.net(x_in, None)  # (b, c, K, h, w)

    def log_masses(o):  # (b, c, K, h, w) -> (b, c, h, w, V) log-probabilities of each value
        flat = o.permute(0, 1, 3, 4, 2).reshape(-1, o.shape[2])
        return model._log_masses(flat).log_softmax(-1).view(*o.shape[:2], *o.shape[3:], -1)

    lc, lu = log_masses(cond), log_masses(uncond)
    best = (lu + w * (lc - lu)).argmax(-1)
    drawn = out.x.long() if likelihood == "bernoulli" else (out.x * 255).round().long()
    assert torch.equal(best, drawn)
    plain = model.sample(4, cond=torch.tensor([0, 1, 2, 1]), generator=gen(), temperature=0.0, guidance=1.0)
    if likelihood != "bernoulli" or w == 0:  # (two values: stressing the class may keep every sign of the logit)
        assert not torch.equal(plain.x, out.x)  # the guidance changed the images


def test_guided_inpainting_keeps_the_known_pixels_and_guidance_one_is_the_plain_sampler():
    model = guided_model()
    x, mask = levels((3, 2, 6, 5)), torch.zeros(1, 1, 6, 5)
    mask[..., 3:, :] = 1
    filled = model.inpaint(x, mask, cond=torch.tensor([0, 1, 2]), generator=gen(), guidance=2.5)
    assert torch.equal(filled[..., :3, :], x[..., :3, :]) and not torch.equal(filled[..., 3:, :], x[..., 3:, :])
    a = model.sample(3, generator=gen(4), guidance=1.0).x
    b = model_of((2, 6, 5), 3, layers=2, conditional=True, likelihood="categorical")
    b.load_state_dict(model.state_dict())
    assert torch.equal(a, b.sample(3, generator=gen(4)).x)  # w = 1 draws exactly as a model without cond_drop


def test_guidance_refusals_name_the_fix():
    plain = model_of((1, 4, 4), 3, layers=2, conditional=True)
    with pytest.raises(ValueError, match=r"guidance 2 needs a pixelcnn trained with cond_drop > 0 .*use guidance 1"):
        plain.sample(2, guidance=2.0)
    with pytest.raises(ValueError, match="guidance must be >= 0"):
        guided_model().sample(2, guidance=-1.0)
    assert plain.sample(2, guidance=1.0).x.shape == (2, 1, 4, 4)  # 1 is the plain conditional model
    model_of((1, 4, 4), guidance=3.0).sample(2)  # an unconditional model has nothing to guide: ignored
