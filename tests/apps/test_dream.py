"""DeepDream (genlab.apps.dream) on tiny networks and on the shipped classifier, and `genlab dream`."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from genlab.apps.dream import (
    blur,
    class_objective,
    dream,
    dream_layers,
    layer_objective,
    noise_images,
    octave_sizes,
    total_variation,
)
from genlab.cli import main
from genlab.eval.classifier import ClassifierNet, Recipe, shipped_classifier


def tiny_net() -> ClassifierNet:
    torch.manual_seed(0)
    return ClassifierNet((1, 8, 8), 4, Recipe(channels=(4, 8, 8), hidden=8)).eval()


def start(n: int = 2) -> torch.Tensor:
    return noise_images(n, (1, 8, 8), torch.Generator().manual_seed(1), mean=0.4, spread=0.4)


@pytest.mark.parametrize("target", ["conv2", "features", "class"])
def test_the_objective_rises_monotonically_with_small_steps_and_no_jitter(target):
    net = tiny_net()
    objective = class_objective(net, 2) if target == "class" else layer_objective(net, target)
    out = dream(objective, start(), steps=15, lr=1e-3, octaves=2, octave_scale=2.0, jitter=0)
    trace = torch.tensor(out.objective)
    assert len(trace) == 2 * 15 + 1
    assert (trace.diff() >= -1e-6).all(), trace
    assert trace[-1] > trace[0]


def test_with_a_tv_penalty_the_penalised_objective_rises():
    net = tiny_net()
    out = dream(layer_objective(net, "conv3", channel=1), start(), steps=10, lr=1e-3, octaves=1, jitter=0, tv=0.5)
    total = torch.tensor(out.total)
    assert (total.diff() >= -1e-6).all() and total[-1] > total[0]


def test_jitter_blur_and_octaves_give_images_and_are_seeded():
    net = tiny_net()
    run = lambda: dream(layer_objective(net, "conv1"), start(), steps=3, octaves=3, octave_scale=1.5, jitter=2,  # noqa: E731
                        blur_sigma=0.7, tv=0.1, generator=torch.Generator().manual_seed(0))
    a, b = run(), run()
    assert len(a.octaves) == 3 and a.x.shape == (2, 1, 8, 8) and 0 <= a.x.min() and a.x.max() <= 1
    assert torch.equal(a.x, b.x) and torch.equal(a.x, a.octaves[-1])
    assert octave_sizes(28, 28, 3, 1.5) == [(12, 12), (19, 19), (28, 28)]


def test_smoothness_priors():
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(blur(flat, 1.0), flat) and total_variation(flat).item() == 0
    spiky = torch.zeros(1, 1, 8, 8)
    spiky[..., 4, 4] = 1
    smooth = blur(spiky, 1.0)
    assert smooth.sum().item() == pytest.approx(1.0, abs=0.05) and smooth.max() < 0.2
    assert total_variation(smooth) < total_variation(spiky)


def test_layers_bad_targets_and_wrong_sizes_are_one_line_errors():
    net = tiny_net()
    assert list(dream_layers(net))[:4] == ["conv1", "conv2", "conv3", "features"]
    with pytest.raises(ValueError, match="unknown layer 'conv9'; valid: conv1, conv2"):
        layer_objective(net, "conv9")
    with pytest.raises(ValueError, match=r"channel must be in \[0, 8\)"):
        dream(layer_objective(net, "conv2", channel=8), start(), steps=1)
    with pytest.raises(ValueError, match=r"target class must be in \[0, 4\)"):
        dream(class_objective(net, 7), start(), steps=1)
    with pytest.raises(ValueError, match=r"cannot take \(1, 12, 12\) images") as e:
        dream(layer_objective(net, "conv1"), torch.rand(1, 1, 12, 12), steps=1)
    assert "\n" not in str(e.value)


def test_a_class_dream_convinces_the_shipped_digits_classifier():
    clf = shipped_classifier("digits")
    x = noise_images(2, clf.shape, torch.Generator().manual_seed(0))
    out = dream(class_objective(clf.net, 5), x, steps=10, lr=0.05, octaves=2, jitter=1,
                generator=torch.Generator().manual_seed(0))
    assert (torch.softmax(clf.logits(out.x), 1)[:, 5] > 0.9).all()


def test_cli_dream(tmp_path, capsys):
    main(["dream", "--data", "digits", "--image", "test:3", "--layer", "conv2", "--steps", "3", "--octaves", "2",
          "--out", str(tmp_path / "d.png")])
    text = capsys.readouterr().out
    assert "conv2 mean activation" in text and "2 octaves" in text
    assert Image.open(tmp_path / "d.png").size[0] > 3 * 24
    main(["dream", "--data", "digits", "--image", "noise", "--target-class", "4", "--steps", "3", "--blur", "0.5",
          "--tv", "0.1", "--out", str(tmp_path / "n.png")])
    assert "logit of class 4" in capsys.readouterr().out
    for args, message in ((["--data", "cifar10"], "no genlab classifier for 'cifar10'"),
                          (["--data", "digits", "--layer", "conv9"], "unknown layer 'conv9'"),
                          (["--data", "digits", "--target-class", "10"], "--target-class must be"),
                          (["--data", "digits", "--image", "test:999999"], "the index must be in")):
        with pytest.raises(SystemExit):
            main(["dream", *args, "--steps", "1", "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_the_ascent_is_projected_a_pixel_at_1_moves_back_and_stuck_pixels_do_not_shrink_the_step():
    darker = lambda x: -x.flatten(1).mean(1)  # noqa: E731
    out = dream(darker, torch.ones(1, 1, 8, 8), steps=3, lr=0.1, octaves=1, jitter=0)
    assert torch.allclose(out.x, torch.full((1, 1, 8, 8), 0.7))  # clipped pixels still had a gradient
    brighter = lambda x: x.flatten(1).mean(1)  # noqa: E731
    x = torch.full((1, 1, 8, 8), 0.5)
    x[..., :4, :] = 1.0  # half the pixels cannot get brighter: their gradient is dropped, the others step 2 lr
    out = dream(brighter, x, steps=1, lr=0.1, octaves=1, jitter=0)
    assert torch.allclose(out.x[..., :4, :], torch.ones(1, 1, 4, 8))
    assert torch.allclose(out.x[..., 4:, :], torch.full((1, 1, 4, 8), 0.7))
