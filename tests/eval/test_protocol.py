"""The protocol JSON, summaries over seeds, and the one-call evaluate_samples on digits."""

from __future__ import annotations

import pytest
import torch

from genlab.eval import protocol as P


def test_protocol_json_round_trip(tmp_path):
    proto = P.base_protocol(dataset="mnist", split="test", n_real=10000, n_fake=5000,
                            features="genlab-mnist classifier", feature_hash="abc123", feature_dim=128,
                            seeds=[0, 1, 2], kid_subset_size=1000, kid_subsets=100, wall_time_s=12.5,
                            extra={"run": "runs/x", "sample_options": {"steps": 20}})
    assert proto.genlab_version and proto.hardware["cores"] and proto.date
    metrics = P.summarize([{"fid": 10.0, "kid": 0.1}, {"fid": 12.0, "kid": 0.3}, {"fid": 14.0, "kid": 0.2}])
    path = P.save_result(tmp_path / "m.json", metrics, proto)
    m2, p2 = P.load_result(path)
    assert p2 == proto and m2 == metrics
    with pytest.raises(ValueError, match="unknown field"):
        P.Protocol.from_json({**proto.to_json(), "bogus": 1})


def test_summarize_mean_and_sample_std():
    s = P.summarize([{"fid": 10.0, "name": "x"}, {"fid": 12.0}, {"fid": 14.0, "only": 1.0}])
    assert s["fid"] == {"mean": 12.0, "std": 2.0, "n": 3, "values": [10.0, 12.0, 14.0]}
    assert s["only"]["std"] == 0.0 and "name" not in s


def test_evaluate_samples_on_digits(digits_classifier):
    from genlab.data import load_data

    test = load_data("digits", split="test")
    same = P.evaluate_samples(test.images(), "digits", labels=test.y, n_real=10000)
    # The real test set against itself: FID 0, the manifolds coincide, class accuracy = test accuracy.
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    assert same["class_accuracy"] == pytest.approx(digits_classifier.test_accuracy)
    train = load_data("digits", split="train")
    real = P.evaluate_samples(train.images(slice(0, 300)), "digits")
    noise = P.evaluate_samples(torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)), "digits")
    assert real["fid"] < 0.2 * noise["fid"]
    assert real["precision"] > 0.5 > noise["precision"]
    assert real["inception_score"] > 3 * noise["inception_score"] / 2
    proto = P.Protocol.from_json(real["protocol"])
    assert proto.features == "genlab-digits classifier" and proto.feature_hash == digits_classifier.hash
    assert (proto.n_real, proto.n_fake, proto.real_subset) == (297, 300, "all")
    assert proto.kid_subset_size == 297 and proto.judge.startswith("genlab-digits classifier")


def test_evaluate_samples_rejects_bad_input(digits_classifier):
    with pytest.raises(ValueError, match="NaN"):
        P.evaluate_samples(torch.full((10, 1, 8, 8), float("nan")), "digits")
    with pytest.raises(ValueError, match="labels"):
        P.evaluate_samples(torch.rand(10, 1, 8, 8), "digits", labels=torch.zeros(3))
    with pytest.raises(ValueError, match=r"\(n, c, h, w\)"):
        P.evaluate_samples(torch.rand(10, 8, 8), "digits")
