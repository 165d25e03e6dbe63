"""gpt: the causal mask, the loss at initialization, weight tying, the presets, overfitting a string and
sampling it back greedily, prompts and streaming."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data.base import Batch, DataError, DataSpec, Vocab
from genlab.models import build_model
from genlab.models.autoregressive.gpt import GPT

TEXT = "To be, or not to be, that is the question."


def spec_of(text: str = TEXT, unk: str | None = None) -> DataSpec:
    return DataSpec("tokens", vocab=Vocab.of_text(text, unk=unk))


def tiny(spec: DataSpec | None = None, **options) -> GPT:
    torch.manual_seed(0)
    opts = {"layers": 2, "heads": 2, "dim": 16, "context": 16, **options}
    return build_model("gpt", opts, spec=spec or spec_of()).eval()


def test_changing_token_t_changes_no_logit_before_t():
    model = tiny()
    V = model.spec.vocab_size
    x = torch.randint(0, V, (3, 16), generator=torch.Generator().manual_seed(0))
    base = model.logits(x)
    for t in (0, 5, 15):
        y = x.clone()
        y[:, t] = (y[:, t] + 1) % V
        out = model.logits(y)
        assert torch.equal(out[:, :t], base[:, :t]), t  # the past never sees the future
        assert not torch.allclose(out[:, t], base[:, t])  # and the change is seen from t on


def test_untrained_loss_is_about_ln_vocab():
    model = build_model("gpt", {"context": 32}, spec=spec_of()).eval()  # the baby preset's width and depth
    V = model.spec.vocab_size
    x = torch.randint(0, V, (16, 33), generator=torch.Generator().manual_seed(0))
    loss = model.training_losses(Batch(x))["loss"].item()
    assert abs(loss - math.log(V)) < 0.1, (loss, math.log(V))


def test_presets_and_weight_tying():
    def sizes(m):
        return len(m.net.blocks), m.net.blocks[0].attn.heads, m.net.tok.weight.shape[1], m.context

    baby = build_model("gpt", {}, spec=spec_of())
    assert sizes(baby) == (4, 4, 128, 64)
    assert sizes(build_model("gpt", {"preset": "small"}, spec=spec_of())) == (6, 6, 384, 256)
    assert sizes(build_model("gpt", {"preset": "small", "context": 32}, spec=spec_of())) == (6, 6, 384, 32)
    # the LM head is the token embedding: no separate output matrix, one tensor in the checkpoint
    assert not [k for k in baby.state_dict() if "head" in k]
    x = torch.randint(0, baby.spec.vocab_size, (2, 5))
    assert torch.allclose(baby.logits(x), baby.net(x) @ baby.net.tok.weight.T, atol=1e-5)


def test_nll_is_the_summed_cross_entropy_of_each_block():
    model = tiny()
    x = torch.randint(0, model.spec.vocab_size, (4, 17), generator=torch.Generator().manual_seed(1))
    nll = model.nll(x)
    assert nll.shape == (4,)
    assert nll.mean().item() / 16 == pytest.approx(model.training_losses(Batch(x))["loss"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="T <= context 16"):
        model.nll(torch.zeros(2, 18, dtype=torch.long))


def test_a_tiny_model_overfits_a_string_and_samples_it_back_at_temperature_0():
    model = tiny(layers=2, dim=32, context=48).train()
    ids = torch.tensor([model.spec.vocab.encode(TEXT)])  # (1, 42): one block of T + 1 tokens
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = model.training_losses(Batch(ids))["loss"]
        loss.backward()
        opt.step()
    model.eval()
    assert loss.item() < 0.01
    out = model.sample(2, cond=TEXT[0], max_tokens=len(TEXT) - 1, temperature=0.0)
    assert [model.spec.vocab.decode(row.tolist()) for row in out.x] == [TEXT, TEXT]


def test_prompts_strings_ids_and_rows():
    model = tiny()
    vocab = model.spec.vocab
    out = model.sample(3, cond="not to", max_tokens=5, generator=torch.Generator().manual_seed(0))
    assert out.x.shape == (3, 6 + 5) and all(vocab.decode(r[:6].tolist()) == "not to" for r in out.x)
    rows = torch.tensor([vocab.encode("ab"), vocab.encode("qu")])
    out = model.sample(2, cond=rows, max_tokens=3)
    assert torch.equal(out.x[:, :2], rows)
    unprompted = model.sample(1, max_tokens=4)
    assert unprompted.x.shape == (1, 5) and vocab.decode(unprompted.x[0, :1].tolist()) in ("\n", vocab.tokens[0])
    with pytest.raises(DataError, match="not in the vocabulary"):
        model.sample(1, cond="xyz!")  # a vocabulary without an unknown token refuses unknown characters
    with_unk = tiny(spec_of(unk="\ufffd"))
    assert with_unk.sample(1, cond="Zq", max_tokens=1).x[0, 0] == with_unk.spec.vocab.unk
    with pytest.raises(ValueError, match="prompt"):
        model.sample(2, cond=torch.zeros(3, 2, dtype=torch.long))


def test_streaming_reports_every_token_as_it_is_drawn():
    model = tiny()
    seen = []
    out = model.sample(2, cond="to", max_tokens=7, generator=torch.Generator().manual_seed(0), on_token=seen.append)
    assert len(seen) == 7 and torch.equal(torch.stack(seen, 1), out.x[:, 2:])
    stream = list(model.generate(model.prompt_ids(2, "to"), 7, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(torch.stack(stream, 1), out.x[:, 2:])  # the generator form draws the same tokens


def test_sampling_options_are_checked():
    model = tiny()
    for bad, match in [({"temperature": -1.0}, "temperature"), ({"top_k": -2}, "top_k"), ({"top_p": 0.0}, "top_p"),
                       ({"top_p": 1.5}, "top_p"), ({"max_tokens": -1}, "max_tokens")]:
        with pytest.raises(ValueError, match=match):
            model.sample(1, **bad)


def test_attention_weights_are_causal_and_normalized():
    model = tiny()
    x = torch.tensor([model.spec.vocab.encode(TEXT[:16])])
    w = model.attention(x, head=1)  # (layers, b, T, T)
    assert w.shape == (2, 1, 16, 16)
    assert torch.allclose(w.sum(-1), torch.ones(2, 1, 16))
    assert torch.equal(w.triu(1), torch.zeros_like(w))


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_the_cached_sampler_gives_the_full_networks_logits_then_slides(device, monkeypatch):
    # a 3-token prompt, 30 new tokens, context 16: 13 steps on the key/value cache, then 17 on the sliding window
    import genlab.models.autoregressive.gpt as gpt

    model = tiny().to(device)
    seen = []
    real_draw = gpt.draw

    def spy(logits, **kw):
        seen.append(logits.clone())
        return real_draw(logits, **kw)

    monkeypatch.setattr(gpt, "draw", spy)
    out = model.sample(2, cond="To ", generator=torch.Generator(device).manual_seed(0), max_tokens=30).x
    assert out.shape == (2, 33) and len(seen) == 30
    for s, logits in enumerate(seen):
        full = model.logits(out[:, :3 + s][:, -16:])[:, -1]
        torch.testing.assert_close(logits, full, atol=1e-5, rtol=1e-5)


def test_extend_refuses_what_it_cannot_do_exactly():
    model = tiny()
    _, cache = model.net.extend(torch.zeros(1, 4, dtype=torch.long), None)
    with pytest.raises(ValueError, match="one new token at a time"):
        model.net.extend(torch.zeros(1, 2, dtype=torch.long), cache)
    _, cache = model.net.extend(torch.zeros(1, 16, dtype=torch.long), None)
    with pytest.raises(ValueError, match="17 tokens do not fit max_len 16"):
        model.net.extend(torch.zeros(1, 1, dtype=torch.long), cache)
