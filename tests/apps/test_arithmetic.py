"""Latent arithmetic (genlab.apps.arithmetic): attributes, vectors, the identity edit, and `genlab arithmetic`."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from genlab.apps.arithmetic import (
    apply_vector,
    attribute_vector,
    attribute_vectors,
    class_vectors,
    expression_vector,
    parse_expression,
    slant,
    thickness,
)
from genlab.cli import main
from genlab.models import build_model
from tests.conftest import TINY, tiny_images


def tiny(family: str, **extra):
    torch.manual_seed(0)
    return build_model(family, {**TINY[family], **extra}, shape=(1, 8, 8), num_classes=4).eval()


@pytest.mark.parametrize("family", ["ae", "vae", "dae", "flow"])
def test_a_zero_vector_is_the_models_own_round_trip(family):
    model = tiny(family)
    x = tiny_images(5).images()
    with torch.no_grad():
        model.encode(x)  # a flow initialises its ActNorm layers from the first batch it sees
        round_trip = model.decode(model.encode(x))
    d = model.encode(x).flatten(1).shape[1]
    assert torch.equal(apply_vector(model, x, torch.zeros(d)), round_trip)
    assert torch.equal(apply_vector(model, x, torch.ones(d), scale=0.0), round_trip)
    assert not torch.equal(apply_vector(model, x, torch.ones(d)), round_trip)


def test_thickness_and_slant_measure_strokes():
    bar = torch.zeros(1, 1, 8, 8)
    bar[..., 1:7, 3] = 1
    thick = bar.clone()
    thick[..., 1:7, 4] = 1
    assert thickness(bar).item() == pytest.approx(6 / 64) and thickness(thick).item() == pytest.approx(12 / 64)
    leaning = torch.zeros(1, 1, 8, 8)
    for row in range(8):  # one pixel right per row up: the top leans right
        leaning[..., row, 7 - row] = 1
    assert slant(bar).item() == pytest.approx(0.0, abs=1e-6)
    assert slant(leaning).item() == pytest.approx(1.0, abs=1e-5) and slant(leaning.flip(3)).item() < 0
    assert slant(torch.zeros(1, 1, 8, 8)).item() == 0


def test_class_and_attribute_vectors():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 6.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert torch.allclose(class_vectors(z, y, 2), torch.tensor([[1.0, 0.0], [0.0, 5.0]]))
    with pytest.raises(ValueError, match=r"none of class \[2\]"):
        class_vectors(z, y, 3)
    a = torch.tensor([0.1, 0.3, 0.6, 0.8])  # larger in the larger code of each class, and in class 1
    assert torch.allclose(attribute_vector(z, a, y, q=0.5), torch.tensor([1.0, 1.0]))
    assert torch.allclose(attribute_vector(z, a, None, q=0.5), torch.tensor([-1.0, 5.0]))  # carries the class
    per = attribute_vectors(z, a, y, 2, q=0.5)  # class 0 thickens along its first code, class 1 along its second
    assert torch.allclose(per, torch.tensor([[2.0, 0.0], [0.0, 2.0]])) and torch.allclose(per.mean(0), attribute_vector(
        z, a, y, q=0.5))
    with pytest.raises(ValueError, match=r"at least 2 images of every class; class \[2\] has fewer among 4"):
        attribute_vectors(z, a, y, 3)
    terms = parse_expression(" 7 - 1 + 3")
    assert terms == [(1, 7), (-1, 1), (1, 3)] and parse_expression("-2") == [(-1, 2)]
    vectors = torch.arange(16.0).view(8, 2)
    assert torch.equal(expression_vector(terms, vectors), vectors[7] - vectors[1] + vectors[3])
    assert torch.equal(expression_vector(terms, vectors, torch.zeros(2)), vectors[3] - vectors[1])
    for bad, message in (("7--1", "class indices joined by"), ("seven", "class indices joined by")):
        with pytest.raises(ValueError, match=message):
            parse_expression(bad)
    with pytest.raises(ValueError, match=r"class 9 is not a class of this data; valid: 0 ... 7"):
        expression_vector([(1, 9)], vectors)


def test_expressions_of_class_names():
    """Fashion-MNIST's names, some with - and / in them, case-insensitive, _ for a space; indices still work."""
    from genlab.data.fashion_mnist import CLASSES

    assert parse_expression("sneaker - sandal + ankle_boot", CLASSES) == [(1, 7), (-1, 5), (1, 9)]
    assert parse_expression("T-shirt/top-Trouser", CLASSES) == [(1, 0), (-1, 1)]
    assert parse_expression("-shirt+Ankle boot-5", CLASSES) == [(-1, 6), (1, 9), (-1, 5)]
    digits = tuple(str(i) for i in range(12))  # "11" is read whole, not as the name "1" and then "1"
    assert parse_expression("11-1", digits) == [(1, 11), (-1, 1)]
    for bad in ("shirt bag", "shirt--bag", "boots", "shirt-"):
        with pytest.raises(ValueError, match=r"class indices or names joined by \+ and -, e.g. Trouser-T-shirt/top"):
            parse_expression(bad, CLASSES)


def test_bad_models_vectors_and_images_are_one_line_errors():
    with pytest.raises(ValueError, match="latent arithmetic needs a model with a latent space .* a dcgan model has"):
        apply_vector(tiny("dcgan"), torch.zeros(1, 1, 8, 8), torch.zeros(8))
    with pytest.raises(ValueError, match="needs an unconditional model"):
        apply_vector(tiny("vae", conditional=True), torch.zeros(1, 1, 8, 8), torch.zeros(4))
    with pytest.raises(ValueError, match="the vector has 3 dimensions; this model's codes have 4"):
        apply_vector(tiny("ae"), torch.zeros(1, 1, 8, 8), torch.zeros(3))
    with pytest.raises(ValueError, match=r"must be of shape \(n, 1, 8, 8\)"):
        apply_vector(tiny("ae"), torch.zeros(2, 3, 8, 8), torch.zeros(4))


def test_cli_arithmetic(tmp_path, capsys):
    main(["train", "ae", "--data", "digits", "--hidden", "16", "--latent-dim", "4", "--train.steps", "2",
          "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "a"])
    capsys.readouterr()
    run = str(tmp_path / "a")
    main(["arithmetic", run, "--expr", "7-1+3", "--out", str(tmp_path / "e.png")])
    out = capsys.readouterr().out
    assert "seed: 7 " in out and "seed-1+3: " in out and "7-1+3: " in out
    assert Image.open(tmp_path / "e.png").size[0] > 7 * 24
    main(["arithmetic", run, "--attribute", "thickness", "--scales", "0", "1", "-n", "3", "--out",
          str(tmp_path / "t.png")])
    assert "3 test images, then its class's thickness vector x [0.0, 1.0]" in capsys.readouterr().out
    main(["arithmetic", run, "--attribute", "thickness", "--scales", "0", "1", "-n", "3", "--no-per-class", "--out",
          str(tmp_path / "t2.png")])
    assert "3 test images, then the average thickness vector x [0.0, 1.0]" in capsys.readouterr().out
    for args, message in ((["--expr", "7-12"], "class 12 is not a class of this data; valid: 0 ... 9"),
                          (["--expr", "x"], "write class indices joined by + and -"),
                          (["--image", str(tmp_path / "none.png")], "does not exist")):
        with pytest.raises(SystemExit):
            main(["arithmetic", run, *args, "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_class_prior_on_shared_codes_keeps_arithmetic():
    """A conditional pca (the cpu preset's on labelled data) encodes without labels: arithmetic works on it."""
    from tests.models.classical.helpers import fitted

    model = fitted("pca", components=4, conditional=True)
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(apply_vector(model, x, torch.zeros(4)), model.reconstruct(x))
