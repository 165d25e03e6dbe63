"""The classifiers shipped with genlab (genlab/eval/weights): loaded without training, the same network on
every machine (golden feature values), matching the code's recipe, and named by their weights hash in
every protocol.

Golden values: the features of two fixed synthetic images (a ring, a "0" to the digit classifiers, and a
stroke, a "1"). Re-record only when the shipped weights are re-created on purpose (`ship_classifier`,
docs/EVALUATION.md): `python -c "from tests.eval.test_shipped_classifier import record; record()"`.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from genlab.eval import classifier as C

SHIPPED = ("digits", "fashion-mnist", "mnist")
# dataset: (weights hash, the first 8 features of the ring and of the stroke, the two feature norms, the two
# predicted classes)
GOLDEN = {
    "digits": ("1d99d75aab4ebecd",
               [0.0, 0.0, 0.0, 0.0, 0.0, 2.203461, 0.0, 0.0],
               [1.277016, 0.0, 0.0, 0.0, 0.0, 0.261803, 0.0, 0.00178],
               [7.174961, 6.819901], [0, 1]),
    "fashion-mnist": ("3a3713fbdde117e8",
                      [0.0, 0.767249, 2.19463, 1.419509, 0.0, 0.0, 1.836501, 0.0],
                      [0.005309, 0.0, 0.0, 0.0, 1.256943, 0.0, 0.0, 0.772213],
                      [11.330484, 7.439067], [8, 0]),  # Bag, T-shirt/top
    "mnist": ("b92719496a1dc236",
              [0.035415, 0.641529, 1.943252, 0.0, 1.010304, 0.0, 1.633022, 0.343247],
              [0.402521, 0.0, 0.970917, 0.0, 0.854094, 1.515308, 0.222397, 1.989716],
              [8.424606, 9.305742], [0, 1]),
}
TOL = 1e-4


def probe_images(h: int, w: int) -> torch.Tensor:
    """(2, 1, h, w) in [0, 1]: a Gaussian ring of radius 0.3 h and a slanted vertical stroke."""
    y = torch.arange(h, dtype=torch.float64).view(h, 1) - (h - 1) / 2
    x = torch.arange(w, dtype=torch.float64).view(1, w) - (w - 1) / 2
    r = (y ** 2 + x ** 2).sqrt()
    ring = torch.exp(-(r - 0.3 * h) ** 2 / (2 * (0.08 * h) ** 2))
    stroke = torch.exp(-(x - 0.2 * w * y / h) ** 2 / (2 * (0.06 * w) ** 2)) * (y.abs() < 0.35 * h)
    return torch.stack([ring, stroke]).unsqueeze(1).float()


def probe_features(dataset: str) -> tuple[str, list[float], list[float], list[float], list[int]]:
    clf = C.shipped_classifier(dataset)
    f, logits = clf.features_and_logits(probe_images(*clf.shape[1:]))
    return (clf.weights_hash, [round(v, 6) for v in f[0, :8].tolist()], [round(v, 6) for v in f[1, :8].tolist()],
            [round(v, 6) for v in f.norm(dim=1).tolist()], logits.argmax(1).tolist())


def record() -> None:
    """Print the GOLDEN entries of the shipped classifiers (paste them above)."""
    for d in C.shipped_datasets():
        print(f"    {d!r}: {probe_features(d)},")


@pytest.fixture
def no_training(tmp_path, monkeypatch):
    """An empty GENLAB_CACHE of its own, and no training allowed."""
    def boom(*a, **k):
        raise AssertionError("trained a classifier that genlab ships")

    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path))
    monkeypatch.setattr(C, "build_classifier", boom)
    return tmp_path


def test_the_three_classifiers_are_shipped_for_the_current_recipes():
    assert C.shipped_datasets() == sorted(GOLDEN) == list(SHIPPED)
    for d in C.shipped_datasets():
        meta = json.loads((C.WEIGHTS_DIR / f"{d}.json").read_text())
        blob = (C.WEIGHTS_DIR / f"{d}.safetensors").read_bytes()
        assert meta["hash"] == C.recipe_hash(d, C.recipe_for(d)), f"re-create {d}: ship_classifier({d!r}, retrain=True)"
        assert meta["weights_sha256"] == hashlib.sha256(blob).hexdigest()
        assert meta["weights_hash"] == C.weights_hash(blob)
        assert meta["test_accuracy"] > 0.9 and meta["dataset"] == d
    assert sum((C.WEIGHTS_DIR / f"{d}.safetensors").stat().st_size for d in C.shipped_datasets()) < 10 * 2**20


@pytest.mark.parametrize("dataset", sorted(GOLDEN))
def test_shipped_features_equal_the_golden_values(dataset, no_training):
    clf = C.load_classifier(dataset)  # an empty cache: the shipped network, no training
    assert clf.origin == "shipped" and clf.weights_hash == GOLDEN[dataset][0]
    _, ring, stroke, norms, classes = probe_features(dataset)
    for got, want in zip((ring, stroke, norms), GOLDEN[dataset][1:4]):
        assert got == pytest.approx(want, abs=TOL)
    assert classes == GOLDEN[dataset][4] == clf.predict(probe_images(*clf.shape[1:])).tolist()
    assert not (no_training / "classifiers").exists()


def test_aliases_find_the_shipped_classifier(no_training):
    assert C.load_classifier("DIGITS").origin == "shipped"
    assert C.load_classifier("fashion_mnist").dataset == "fashion-mnist"


def test_a_stale_shipped_classifier_is_not_used(cache_env, monkeypatch):
    monkeypatch.setitem(C.RECIPES, "digits", C.Recipe(channels=(4, 4, 4), hidden=8, epochs=1))
    with pytest.warns(UserWarning, match="shipped genlab-digits classifier is of recipe"):
        assert C.shipped_classifier("digits") is None


def test_the_weights_hash_is_in_the_protocol(no_training):
    from genlab.eval.protocol import Protocol, evaluate_samples
    from genlab.eval.report import metrics_table

    clf = C.load_classifier("digits")
    fake = probe_images(8, 8).repeat(5, 1, 1, 1)
    proto = Protocol.from_json(evaluate_samples(fake, "digits", n_real=50)["protocol"])
    assert proto.feature_hash == clf.hash and proto.feature_weights_hash == clf.weights_hash == GOLDEN["digits"][0]
    assert f"weights {clf.weights_hash}" in proto.judge
    assert f"[recipe {clf.hash}, weights {clf.weights_hash}]" in metrics_table({}, proto)
    # two networks of one recipe are two protocols, and never share cached real features
    from genlab.eval.features import network_key

    other = C.FeatureClassifier(clf.net, "digits", clf.hash, clf.meta, weights_hash="0" * 16)
    assert network_key(other) != network_key(clf)
