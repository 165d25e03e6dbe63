"""Anomaly and out-of-distribution detection (genlab.apps.anomaly), --classes / --perturb, `genlab anomaly`."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from genlab.apps.anomaly import anomaly_scores, nll_bits, perturb, png_bits, reconstruction_error, separation
from genlab.cli import main
from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.models import build_model
from genlab.runs import load_training_data, train
from tests.conftest import TINY, tiny_images


def tiny(family: str):
    torch.manual_seed(0)
    options = {k: v for k, v in TINY[family].items() if k != "conditional"}
    return build_model(family, options, shape=(1, 8, 8)).eval()


def test_auroc_of_a_perfect_a_reversed_and_a_random_score():
    assert separation(torch.zeros(50), torch.ones(50)) == {"auroc": 1.0, "auprc": 1.0}
    assert separation(torch.ones(50), torch.zeros(50))["auroc"] == 0.0
    g = torch.Generator().manual_seed(0)
    random = separation(torch.rand(5000, generator=g), torch.rand(5000, generator=g))
    assert abs(random["auroc"] - 0.5) < 0.02 and abs(random["auprc"] - 0.5) < 0.02


def test_separation_refuses_empty_sides_and_nan_scores():
    with pytest.raises(ValueError, match="at least one normal and one anomalous"):
        separation(torch.zeros(0), torch.ones(3))
    with pytest.raises(ValueError, match="not finite"):
        separation(torch.tensor([0.0, float("nan")]), torch.ones(3))


def test_reconstruction_error_is_the_per_image_mean_squared_error():
    model = tiny("ae")
    x = tiny_images(10).images()
    with torch.no_grad():
        expected = (model.decode(model.encode(x)).reshape(x.shape) - x).pow(2).flatten(1).mean(1)
    assert torch.allclose(reconstruction_error(model, x, batch_size=3), expected, atol=1e-6)


def test_nll_bits_match_the_model_nll_in_bits_per_dim():
    model = tiny("pixelcnn")
    x = (tiny_images(6).images() * 255).round() / 255
    with torch.no_grad():
        expected = model.nll(x) / (64 * torch.log(torch.tensor(2.0)))
    assert torch.allclose(nll_bits(model, x).float(), expected, rtol=1e-5)


def test_png_bits_count_every_byte_of_the_file():
    x = tiny_images(3).x
    buf = io.BytesIO()
    Image.fromarray(x[1, 0].numpy()).save(buf, format="PNG", compress_level=9)
    assert png_bits(x)[1].item() == pytest.approx(8 * buf.tell() / 64)
    flat, noisy = torch.full((1, 1, 28, 28), 7, dtype=torch.uint8), torch.randint(0, 256, (1, 1, 28, 28),
                                                                                     dtype=torch.uint8)
    assert png_bits(flat) < png_bits(noisy)  # a simple image is short, noise is long


def test_perturb_replaces_about_the_asked_fraction_of_pixels_and_is_seeded():
    x = torch.full((20, 1, 28, 28), 100, dtype=torch.uint8)
    a = perturb(x, 0.2, torch.Generator().manual_seed(1))
    assert a.dtype == torch.uint8 and torch.equal(a, perturb(x, 0.2, torch.Generator().manual_seed(1)))
    assert 0.18 < (a != 100).float().mean() < 0.22
    assert torch.equal(perturb(x, 0.0), x)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        perturb(x, 1.5)


def test_the_scores_need_the_capability_they_use():
    gan, ae = tiny("gan"), tiny("ae")
    x = tiny_images(4).images()
    with pytest.raises(ValueError, match="needs a model that reconstructs; a gan model does not"):
        anomaly_scores(gan, x, "recon")
    with pytest.raises(ValueError, match="needs a likelihood; a ae model has none"):
        anomaly_scores(ae, x, "nll")
    with pytest.raises(ValueError, match="needs a background model"):
        anomaly_scores(tiny("flow"), x, "ratio")
    with pytest.raises(ValueError, match="unknown anomaly score"):
        anomaly_scores(ae, x, "psychic")
    with pytest.raises(ValueError, match=r"shape \(n, 1, 8, 8\)"):
        anomaly_scores(ae, torch.rand(2, 1, 9, 9), "recon")


def test_ratio_with_itself_as_background_is_zero_and_complexity_subtracts_png_bits():
    model = tiny("flow")
    x = tiny_images(5).x
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    ratio = anomaly_scores(model, x, "ratio", background=model, generator=g())
    assert torch.allclose(ratio, torch.zeros(5, dtype=torch.float64), atol=1e-5)
    nll = anomaly_scores(model, x, "nll", generator=g())
    assert torch.allclose(anomaly_scores(model, x, "complexity", generator=g()), nll - png_bits(x))


def test_a_model_of_one_class_scores_the_others_higher():
    data = tiny_images(400, classes=2)
    model = build_model("pca", {"components": 2}, shape=(1, 8, 8))
    model.fit(data.of_classes([0]))
    test = tiny_images(200, classes=2, seed=1)
    s = anomaly_scores(model, test.x, "recon")
    assert separation(s[test.y == 0], s[test.y == 1])["auroc"] > 0.95


def test_classes_and_perturb_select_and_change_the_training_images(monkeypatch):
    monkeypatch.setattr("genlab.data.load_data", lambda name, split, data_dir=None: tiny_images(40))
    d = load_training_data(DataConfig("x", classes=(1, 3)))
    assert set(d.y.tolist()) == {1, 3} and d.num_classes == 4 and len(d) < 40
    assert len(load_training_data(DataConfig("x", classes=(1,)), split="test")) == 40  # test images stay whole
    p = load_training_data(DataConfig("x", perturb=0.3))
    assert torch.equal(p.x, load_training_data(DataConfig("x", perturb=0.3)).x)  # seed 0: resume is exact
    assert 0.1 < (p.x != tiny_images(40).x).float().mean() < 0.4 and "perturbed" in p.source
    with pytest.raises(ValueError, match=r"classes 0\.\.3; \[7\] are not among them"):
        load_training_data(DataConfig("x", classes=(7,)))


def test_cli_one_class_run_and_against_another_dataset(tmp_path, capsys):
    config = RunConfig("pca", {"components": 8}, DataConfig("digits", classes=(0,)), TrainConfig(steps=1))
    train(config, tmp_path / "pca0")
    main(["anomaly", str(tmp_path / "pca0"), "--score", "recon", "--out", str(tmp_path / "h.png")])
    line = capsys.readouterr().out
    assert "pca recon score: AUROC" in line and "classes [0]" in line and "the other classes" in line
    assert float(line.split("AUROC ")[1].split(",")[0]) > 0.9  # zeros are easy to tell from the other digits
    assert Image.open(tmp_path / "h.png").size[0] > 100
    with pytest.raises(SystemExit) as e:  # digits are 8x8, MNIST 28x28
        main(["anomaly", str(tmp_path / "pca0"), "--against", "mnist", "--out", str(tmp_path / "h2.png")])
    assert e.value.code == 2 and "compare datasets of the same image size" in capsys.readouterr().err


def test_cli_asks_for_against_when_the_run_saw_every_class(tmp_path, capsys):
    train(RunConfig("pca", {"components": 4}, DataConfig("digits"), TrainConfig(steps=1)), tmp_path / "pca")
    with pytest.raises(SystemExit) as e:
        main(["anomaly", str(tmp_path / "pca"), "--out", str(tmp_path / "h.png")])
    assert e.value.code == 2 and "--against DATASET" in capsys.readouterr().err


def test_nll_options_reach_the_model_and_unknown_ones_are_refused():
    ddpm, flow = tiny("ddpm"), tiny("flow")
    x = (tiny_images(3).images() * 255).round() / 255
    seen = []
    real_nll = type(ddpm).nll
    ddpm.nll = lambda xb, yb=None, **kw: (seen.append(kw["t_samples"]), real_nll(ddpm, xb, yb, **kw))[1]
    bits = anomaly_scores(ddpm, x, "nll", generator=torch.Generator().manual_seed(0), nll_options={"t_samples": 2})
    assert seen == [2] and bits.shape == (3,) and torch.isfinite(bits).all()
    with pytest.raises(ValueError, match=r"flow model's likelihood takes no option t_samples \(it takes: none\)"):
        anomaly_scores(flow, x, "nll", nll_options={"t_samples": 2})
    with pytest.raises(ValueError, match="takes no option steps"):
        nll_bits(ddpm, x, nll_options={"steps": 3})
    with pytest.raises(ValueError, match="recon score uses no likelihood"):
        anomaly_scores(tiny("ae"), x, "recon", nll_options={"t_samples": 2})


def test_cli_t_samples_needs_a_model_that_takes_it(tmp_path, capsys):
    config = RunConfig("pca", {"components": 8}, DataConfig("digits", classes=(0,)), TrainConfig(steps=1))
    train(config, tmp_path / "pca0")
    with pytest.raises(SystemExit) as e:
        main(["anomaly", str(tmp_path / "pca0"), "--score", "nll", "--t-samples", "5",
              "--out", str(tmp_path / "h.png")])
    assert e.value.code == 2 and "takes no option t_samples" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["anomaly", str(tmp_path / "pca0"), "--t-samples", "-1", "--out", str(tmp_path / "h.png")])
    assert e.value.code == 2 and "--t-samples" in capsys.readouterr().err
