"""Temperature, top-k and top-p keep exactly the intended tokens (models/autoregressive/sampling.py)."""

from __future__ import annotations

import pytest
import torch

from genlab.models.autoregressive.sampling import draw, filter_logits, top_k_mask, top_p_mask

PROBS = torch.tensor([[0.05, 0.5, 0.15, 0.3]])  # ranked: 1 (0.5), 3 (0.3), 2 (0.15), 0 (0.05)
LOGITS = PROBS.log()


def test_top_k_keeps_exactly_the_k_largest():
    assert top_k_mask(LOGITS, 1).tolist() == [[False, True, False, False]]
    assert top_k_mask(LOGITS, 2).tolist() == [[False, True, False, True]]
    assert top_k_mask(LOGITS, 3).tolist() == [[False, True, True, True]]
    assert top_k_mask(LOGITS, 0).all() and top_k_mask(LOGITS, 9).all()
    ties = torch.zeros(1, 5)
    assert top_k_mask(ties, 2).sum() == 2  # exactly k even when logits tie


@pytest.mark.parametrize(("p", "kept"), [(0.4, [1]), (0.75, [1, 3]), (0.85, [1, 3, 2]), (0.99, [1, 3, 2, 0]),
                                         (1.0, [0, 1, 2, 3])])
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
    mask = top_p_mask(LOGITS, p)[0]
    assert sorted(torch.nonzero(mask).flatten().tolist()) == sorted(kept)


def test_filters_compose_and_draws_stay_inside_the_kept_set():
    out = filter_logits(LOGITS, temperature=0.5, top_k=3, top_p=0.75)
    assert torch.isinf(out[0, [0, 2]]).all() and torch.isfinite(out[0, [1, 3]]).all()
    assert torch.allclose(out[0, [1, 3]], LOGITS[0, [1, 3]] / 0.5)
    g = torch.Generator().manual_seed(0)
    drawn = torch.stack([draw(LOGITS.expand(500, -1), top_k=3, top_p=0.75, generator=g)])
    assert set(drawn.unique().tolist()) == {1, 3}
    # renormalized over the kept set: 0.5 / 0.8 of the draws are token 1
    assert abs((drawn == 1).float().mean().item() - 0.625) < 0.06


def test_temperature_zero_is_greedy_and_low_temperature_sharpens():
    assert draw(LOGITS, temperature=0.0).tolist() == [1]
    g = torch.Generator().manual_seed(0)
    cold = draw(LOGITS.expand(2000, -1), temperature=0.3, generator=g)
    hot = draw(LOGITS.expand(2000, -1), temperature=3.0, generator=g)
    assert (cold == 1).float().mean() > 0.8 > (hot == 1).float().mean()


def test_one_thread_on_a_cpu_and_the_count_put_back_even_after_an_error():
    from genlab.models.autoregressive.sampling import one_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread(torch.device("cpu")):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="boom"), one_thread(torch.device("cpu")):
            raise RuntimeError("boom")
        assert torch.get_num_threads() == 2
        with one_thread(torch.device("meta")):  # not a CPU: the count is left alone
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
