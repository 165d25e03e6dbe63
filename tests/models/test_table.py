"""The joint probability table: exact counts, probabilities, samples, conditionals and errors, checked against
values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data.base import ImageData
from genlab.models import build_model
from genlab.models.explicit.table import Table, check_table_size
from tests.conftest import tiny_images

# A hand-made dataset of 2x2 binary images (cells = pixels for k=2), cells in (top-left, top-right,
# bottom-left, bottom-right) order = bits 0..3 of the entry: (1,0,0,1) is entry 1 + 8 = 9.
HAND = [(1, 0, 0, 1)] * 3 + [(0, 0, 0, 0)] * 2 + [(1, 1, 1, 1)]


def hand_data(rows=HAND) -> ImageData:
    x = torch.tensor(rows, dtype=torch.uint8).view(-1, 1, 2, 2) * 255
    return ImageData(x, None, "hand", "train")


def fitted(smoothing: float = 1.0, rows=HAND, rule: str = "fixed") -> Table:
    data = hand_data(rows)
    model = build_model("table", {"k": 2, "smoothing": smoothing, "rule": rule}, spec=data.spec)
    model.fit(data)
    return model


def test_counts_with_smoothing_give_the_probabilities_by_hand():
    table = fitted(1.0).table()
    # N = 6 images, s = 1 on each of 16 entries: T = (N_i + 1) / (6 + 16)
    expected = torch.full((16,), 1 / 22, dtype=torch.float64)
    expected[9], expected[0], expected[15] = 4 / 22, 3 / 22, 2 / 22
    assert torch.allclose(table, expected, rtol=0, atol=1e-15)
    assert table.sum().item() == pytest.approx(1.0, abs=1e-15)
    ml = fitted(0.0).table()  # the maximum-likelihood table: unseen configurations get 0
    assert ml[9] == pytest.approx(0.5) and ml[0] == pytest.approx(1 / 3) and int((ml > 0).sum()) == 3


def test_the_median_rule_cuts_each_cell_nearest_half_on():
    # binary pixels: the median cut is 0 (on when inked), whichever value is the majority
    assert torch.equal(fitted(rule="median").thresholds, torch.zeros(1, 2, 2))
    assert torch.allclose(fitted(rule="median").table(), fitted(rule="fixed").table())
    # grey levels 0.1 .. 0.5 in the top-left pixel: the cut is the middle one, 0.3; the others never vary
    levels = torch.tensor([26, 51, 77, 102, 128], dtype=torch.uint8)
    x = torch.zeros(5, 1, 2, 2, dtype=torch.uint8)
    x[:, 0, 0, 0] = levels
    data = ImageData(x, None, "grey", "train")
    model = build_model("table", {"k": 2}, spec=data.spec)
    figures = model.fit(data)
    assert model.thresholds[0, 0, 0].item() == pytest.approx(77 / 255) and model.thresholds[0, 1, 1] == 0
    assert model.cells(data.images())[:, 0, 0, 0].tolist() == [0, 0, 0, 1, 1]
    assert figures["cells_on"] == pytest.approx(2 / 20) and figures["configurations_seen"] == 2


def test_the_table_sums_to_one_and_has_2_to_the_d_minus_1_free_parameters():
    data = tiny_images(64, shape=(1, 8, 8))
    for k in (1, 2, 3):
        model = build_model("table", {"k": k, "smoothing": 0.3}, spec=data.spec)
        figures = model.fit(data)
        assert model.table().sum().item() == pytest.approx(1.0, abs=1e-12)
        assert int(model.counts.sum()) == 64 and figures["images"] == 64
        d = model.describe()
        assert d["free_parameters"] == 2 ** (k * k) - 1 == figures["free_parameters"]
        assert d["table_entries"] == 2 ** (k * k) and d["cells"] == [1, k, k]


def test_nll_is_minus_log_of_the_table_entry():
    model = fitted(1.0)
    x = hand_data([(1, 0, 0, 1), (0, 1, 1, 0), (0, 0, 0, 0)]).images()
    expected = torch.tensor([-math.log(4 / 22), -math.log(1 / 22), -math.log(3 / 22)], dtype=torch.float64)
    assert torch.allclose(model.nll(x), expected, rtol=0, atol=1e-12)
    grey = x * 0.4 + 0.3  # grey levels are thresholded at 0.5: 1 -> 0.7 (cell 1), 0 -> 0.3 (cell 0)
    assert torch.equal(model.nll(grey), model.nll(x))
    ml = fitted(0.0)
    assert math.isinf(ml.nll(x)[1].item())  # never seen, no smoothing: probability 0


def test_unfitted_table_is_uniform_one_bit_per_cell():
    from genlab.eval.likelihood import evaluate_likelihood

    model = build_model("table", {"k": 2}, shape=(1, 8, 8))
    x = tiny_images(10).images()
    assert torch.allclose(model.nll(x), torch.full((10,), 4 * math.log(2), dtype=torch.float64))
    out = evaluate_likelihood(model, x)
    assert out["bits_per_dim"] == pytest.approx(1.0, abs=1e-12) and out["likelihood_dims"] == 4
    assert out["likelihood_label"].startswith("exact NLL; the model's own binary 1x2x2 summary")


def test_conditionals_by_enumeration_equal_bayes_rule_by_hand():
    model = fitted(1.0)
    # known: top-left = 1, top-right = 0; unknown: the bottom row. Completions: entries 1 + {0, 4, 8, 12}
    # with T = 1, 1, 4, 1 (/ 22), so p = (1, 1, 4, 1) / 7 and p(bottom-right = 1 | known) = (4 + 1) / 7.
    cells = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 2, 2)
    missing = torch.tensor([False, False, True, True]).view(1, 2, 2)
    idx, p = model.completions(cells, missing)
    assert idx.tolist() == [1, 5, 9, 13]
    assert torch.allclose(p, torch.tensor([1, 1, 4, 1], dtype=torch.float64) / 7, rtol=0, atol=1e-15)
    # nothing known: the completions are the whole table; everything known: one entry with probability 1
    idx, p = model.completions(cells, torch.ones(1, 2, 2, dtype=torch.bool))
    assert idx.tolist() == list(range(16)) and torch.allclose(p, model.table())
    idx, p = model.completions(cells, torch.zeros(1, 2, 2, dtype=torch.bool))
    assert idx.tolist() == [1] and p.tolist() == [1.0]
    with pytest.raises(ValueError, match="probability 0 under this table"):
        fitted(0.0).completions(torch.tensor([0.0, 1.0, 0.0, 0.0]).view(1, 2, 2), missing)


def test_inpaint_draws_from_the_conditional_and_keeps_the_known_pixels():
    model = fitted(1.0)
    n = 7000
    x = hand_data([(1, 0, 1, 1)] * n).images()  # the bottom row is masked: its values must not matter
    mask = torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 1, 2, 2)
    out = model.inpaint(x, mask, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, 0], x[:, :, 0])  # the known top row is kept exactly
    bottom = out[:, 0, 1]  # (n, 2): bottom-left, bottom-right
    freq = {(a, b): float(((bottom[:, 0] == a) & (bottom[:, 1] == b)).float().mean()) for a in (0, 1) for b in (0, 1)}
    expected = {(0, 0): 1 / 7, (1, 0): 1 / 7, (0, 1): 4 / 7, (1, 1): 1 / 7}
    for key, p in expected.items():  # 5 standard errors of a frequency of n draws
        assert abs(freq[key] - p) < 5 * math.sqrt(p * (1 - p) / n), (key, freq[key], p)


def test_inpaint_on_larger_images_keeps_unmasked_pixels_and_fills_whole_cells():
    data = tiny_images(32, shape=(1, 8, 8))
    model = build_model("table", {"k": 2}, spec=data.spec)
    model.fit(data)
    x = data.images(slice(0, 5))
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :4] = 1  # exactly the top-left cell
    out = model.inpaint(x, mask, generator=torch.Generator().manual_seed(1))
    keep = mask.expand_as(x) == 0
    assert torch.equal(out[keep], x[keep])
    filled = out[:, :, :4, :4]
    assert ((filled == 0) | (filled == 1)).all() and (filled.flatten(1).std(1) == 0).all()  # one value per cell


def test_exact_sampling_frequencies_match_the_table():
    model = fitted(1.0)
    n = 20000
    cells = model.sample_cells(n, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(model.index_of(cells), minlength=16).double()
    expected = model.table() * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 37.7  # the 0.999 quantile of chi-square with 15 degrees of freedom
    ml = fitted(0.0)
    seen = set(ml.index_of(ml.sample_cells(2000, generator=torch.Generator().manual_seed(1))).tolist())
    assert seen == {0, 9, 15}  # probability-0 entries are never drawn


def test_samples_are_the_cells_blown_up_to_the_data_shape():
    data = tiny_images(32, shape=(1, 8, 8))
    model = build_model("table", {"k": 2}, spec=data.spec)
    model.fit(data)
    out = model.sample(6, generator=torch.Generator().manual_seed(0)).x
    assert out.shape == (6, 1, 8, 8) and set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(model.upsample(model.cells(out)), out)


@pytest.mark.parametrize("shape,k", [((1, 8, 8), 3), ((1, 28, 28), 3), ((1, 28, 28), 4), ((3, 7, 9), 2),
                                     ((1, 4, 4), 4)])
def test_cells_survive_upsampling_and_pooling(shape, k):
    model = build_model("table", {"k": k}, shape=shape)
    idx = torch.randint(0, model.entries, (64,), generator=torch.Generator().manual_seed(0))
    cells = model.cells_at(idx)
    assert torch.equal(model.index_of(cells), idx)
    for pool in ("area", "max"):
        m = build_model("table", {"k": k, "downsample": pool}, shape=shape)
        assert torch.equal(m.cells(m.upsample(cells)), cells), pool


def test_too_large_k_is_one_line_before_anything_is_allocated(monkeypatch):
    def no_allocation(*args, **kwargs):
        raise AssertionError("the table was allocated")

    monkeypatch.setattr(torch, "zeros", no_allocation)
    with pytest.raises(ValueError) as err:
        build_model("table", {"k": 6}, shape=(1, 28, 28))
    msg = str(err.value)
    assert msg == ("k=6 needs a table of 2^36 - 1 = 68,719,476,735 probabilities (275 GB in float32); the joint "
                   "table grows as 2^(k*k): use k <= 5 (2^25 - 1 = 33,554,431 probabilities)")
    with pytest.raises(ValueError, match=r"^k=3 over 3 channels needs a table of 2\^27 - 1 .* use k <= 2 ") as err:
        build_model("table", {"k": 3}, shape=(3, 32, 32))
    with pytest.raises(ValueError, match=r"^k=9 exceeds the 8x8 image: .*choose k <= 8$"):
        build_model("table", {"k": 9}, shape=(1, 8, 8))
    check_table_size(1, 5)  # 2^25 entries is the largest table


def test_tokens_data_is_refused_in_one_line():
    from tests.models.tiny_families import tiny_tokens

    with pytest.raises(ValueError, match=r"^a table model trains on image data, not tokens; choose a dataset of "
                                         r"that kind or another family$"):
        build_model("table", {}, spec=tiny_tokens().spec)


def test_wrong_image_shape_is_refused():
    model = build_model("table", {"k": 2}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="built for 1x8x8 images got 1x4x4"):
        model.nll(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="cannot fit 1x2x2 images"):
        model.fit(hand_data())
    with pytest.raises(ValueError, match="no counts and smoothing=0"):
        build_model("table", {"smoothing": 0.0}, shape=(1, 8, 8)).sample(2)


def test_fits_in_a_run_folder_loads_and_reports_its_size(tmp_path):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import load_run, sample, train

    data = tiny_images(48)
    config = RunConfig("table", {"k": 2}, DataConfig("tiny"), TrainConfig(steps=10, progress=False, device="cpu"))
    result = train(config, tmp_path / "run", data=data)
    assert result.step == 1 and result.history[0]["free_parameters"] == 15
    run = load_run(tmp_path / "run")
    assert torch.equal(run.model.counts, result.model.counts) and int(run.model.counts.sum()) == 48
    x = data.images(slice(0, 6))
    assert torch.equal(run.model.nll(x), result.model.nll(x))
    assert sample(run, 4).x.shape == (4, 1, 8, 8)
    assert run.model.describe()["free_parameters"] == 15


def test_genlab_inpaint_fills_a_table_run_and_refuses_repaint_flags(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from genlab.cli import main
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train

    data = tiny_images(48)
    config = RunConfig("table", {"k": 2}, DataConfig("tiny"), TrainConfig(steps=10, progress=False, device="cpu"))
    train(config, tmp_path / "run", data=data)
    Image.fromarray(data.x[0, 0].numpy()).save(tmp_path / "x.png")
    out = tmp_path / "filled.png"
    main(["inpaint", str(tmp_path / "run"), "--image", str(tmp_path / "x.png"), "--mask", "left", "--out", str(out),
          "-n", "3"])
    assert "3 completions (32 pixels filled in)" in capsys.readouterr().out
    assert np.asarray(Image.open(out)).shape[0] > 0
    with pytest.raises(SystemExit):
        main(["inpaint", str(tmp_path / "run"), "--image", str(tmp_path / "x.png"), "--steps", "3",
              "--out", str(tmp_path / "other.png")])
    assert "a table model's inpainting takes no --steps; its options: none" in \
        capsys.readouterr().err
