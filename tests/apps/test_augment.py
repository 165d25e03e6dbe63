"""Data augmentation (genlab.apps.augment), --per-class, `genlab augment`."""

from __future__ import annotations

import pytest
import torch

from genlab.apps.augment import generated_images
from genlab.cli import main
from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.eval.cas import REAL_SHARE, augmentation_scores, balanced, train_and_score
from genlab.models import build_model
from genlab.runs import load_training_data, train
from tests.conftest import tiny_images


def fitted_gmm(data):
    model = build_model("gmm", {"components": 1, "pca_components": 4, "conditional": True}, shape=data.shape,
                        num_classes=data.num_classes)
    model.fit(data)
    return model


def test_generated_images_are_balanced_uint8_and_need_a_conditional_model():
    data = tiny_images(200)
    x, y = generated_images(fitted_gmm(data), 5, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.uint8 and x.shape == (20, 1, 8, 8) and y.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    unconditional = build_model("pca", {"components": 2}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="needs a class-conditional model that samples; this pca model is not"):
        generated_images(unconditional, 5)


def test_generated_images_report_their_progress_with_the_samplers_steps_inside():
    from tests.conftest import TINY

    torch.manual_seed(0)
    ddpm = build_model("ddpm", TINY["ddpm"], shape=(1, 8, 8), num_classes=4).eval()
    calls = []
    x, y = generated_images(ddpm, 3, generator=torch.Generator().manual_seed(0), batch_size=5,
                            progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert x.shape == (12, 1, 8, 8) and y.bincount().tolist() == [3, 3, 3, 3]
    assert [c for c in calls if c[0] == "image"] == [("image", 0, 12), ("image", 5, 12), ("image", 10, 12),
                                                    ("image", 12, 12)]
    assert ("step", TINY["ddpm"]["sample_steps"], TINY["ddpm"]["sample_steps"]) in calls  # the sampler's own bar


def test_balanced_repeats_the_real_images_to_their_share_of_the_set():
    rx, ry = torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.zeros(10, dtype=torch.long)
    gx, gy = torch.ones(100, 1, 2, 2, dtype=torch.uint8), torch.ones(100, dtype=torch.long)
    x, y = balanced(rx, ry, gx, gy)  # REAL_SHARE: half
    assert REAL_SHARE == 0.5 and len(x) == 200 and int((y == 0).sum()) == 100 and torch.equal(x[y == 1], gx)
    x, y = balanced(rx, ry, gx, gy, real_share=0.75)
    assert len(x) == 400 and int((y == 0).sum()) == 300
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="real_share must be between 0 and 1"):
            balanced(rx, ry, gx, gy, real_share=bad)


def test_the_cli_default_share_is_the_library_one():
    import inspect

    from genlab.cli.augment import augment

    assert inspect.signature(augment).parameters["real_share"].default == REAL_SHARE


def test_classification_accuracy_score_on_a_toy_case():
    """Images whose class is the bright quadrant: a classifier trained on a class-conditional model's samples
    (CAS) scores far above chance on real test images, and so do the real and the mixed training sets."""
    data, test = tiny_images(400, seed=0), tiny_images(200, seed=1)
    gx, gy = generated_images(fitted_gmm(data), 100, generator=torch.Generator().manual_seed(0))
    scores = augmentation_scores(data.x, data.y, gx, gy, test.x, test.y, num_classes=4, steps=40)
    assert scores["generated"] > 0.8 and scores["real"] > 0.8 and scores["real+generated"] > 0.8
    assert scores["gain"] == pytest.approx(scores["real+generated"] - scores["real"])
    shuffled = gy[torch.randperm(len(gy), generator=torch.Generator().manual_seed(0))]  # labels that mean nothing
    assert train_and_score(gx, shuffled, test.x, test.y, num_classes=4, steps=40) < 0.5


def test_per_class_keeps_n_images_of_each_class(monkeypatch):
    monkeypatch.setattr("genlab.data.load_data", lambda name, split, data_dir=None: tiny_images(100))
    d = load_training_data(DataConfig("x", per_class=7))
    assert d.y.bincount().tolist() == [7, 7, 7, 7]
    assert torch.equal(d.x, load_training_data(DataConfig("x", per_class=7)).x)  # seed 0: resume is exact
    with pytest.raises(ValueError, match="fewer than --per-class 90"):
        load_training_data(DataConfig("x", per_class=90))


def test_cli_prints_the_three_scores_and_draws_real_and_generated_rows(tmp_path, capsys):
    config = RunConfig("gmm", {"components": 1, "pca_components": 8, "conditional": True},
                       DataConfig("digits", per_class=20), TrainConfig(steps=1))
    train(config, tmp_path / "g")
    main(["augment", str(tmp_path / "g"), "--generated-per-class", "20", "--steps", "30", "--seeds", "0", "1",
          "--test", "100", "--out", str(tmp_path / "a.png")])
    out = capsys.readouterr().out
    assert "200 real digits images (20 per class) + 200 generated (real 50% of the mixed set)" in out
    for what in ("real only", "real + generated", "generated only (CAS)", "gain from the generated images"):
        assert what in out
    assert " ± " in out and (tmp_path / "a.png").is_file()
    with pytest.raises(SystemExit) as e:
        main(["augment", str(tmp_path / "g"), "--seeds", "--out", str(tmp_path / "b.png")])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["augment", str(tmp_path / "g"), "--real-share", "1", "--out", str(tmp_path / "c.png")])
    assert e.value.code == 2 and "--real-share must be between 0 and 1" in capsys.readouterr().err
