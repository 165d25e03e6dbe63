"""The feature check behind FID (genlab.eval.references): pixel noise against blurred real images."""

from __future__ import annotations

import torch

from genlab.data import load_data
from genlab.eval import protocol as P
from genlab.eval.classifier import load_classifier
from genlab.eval.references import blurred, fid_check, noise_like
from genlab.eval.report import metrics_table


def test_noise_keeps_the_per_pixel_moments_and_blur_keeps_flat_images():
    x = torch.rand(4000, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.4
    n = noise_like(x, torch.Generator().manual_seed(1))
    assert n.shape == x.shape and 0 <= n.min() and n.max() <= 1
    assert torch.allclose(n.mean(0), x.mean(0), atol=0.01) and torch.allclose(n.std(0), x.std(0), atol=0.01)
    flat = torch.full((2, 3, 5, 5), 0.3)
    assert torch.allclose(blurred(flat), flat)
    dot = torch.zeros(1, 1, 5, 5)
    dot[0, 0, 2, 2] = 9.0
    assert torch.allclose(blurred(dot)[0, 0, 1:4, 1:4], torch.ones(3, 3)) and blurred(dot).sum() == 9.0


def test_digits_features_fail_the_check_and_mnist_features_pass_it(cache_env):
    digits = fid_check(load_classifier("digits"), "digits", load_data("digits", split="test").images())
    assert not digits["reliable"] and digits["noise_fid"] < 2 * digits["blurred_fid"]
    assert "cannot tell noise from digits images" in digits["note"] and "withheld" in digits["note"]
    mnist = fid_check(load_classifier("mnist"), "mnist", load_data("mnist", split="test").images(slice(0, 1000)))
    assert mnist["reliable"] and mnist["noise_fid"] > 5 * mnist["blurred_fid"]


def test_evaluation_on_digits_withholds_fid_and_says_why(digits_classifier):
    x = load_data("digits", split="train").images(slice(0, 200))
    result = P.evaluate_samples(x, "digits")
    proto = P.Protocol.from_json(result["protocol"])
    assert proto.extra["fid_reliable"] is False and result["fid_noise"] < 2 * result["fid_blurred"]
    table = metrics_table(P.summarize([result]), proto)
    lines = {line.split("  ")[0]: line.split()[-1] for line in table.splitlines()}
    assert lines["FID (genlab-digits classifier)"] == "withheld" == lines["KID (genlab-digits classifier)"]
    assert "(FID check: pixel noise scores FID" in table
    assert f"{result['precision']:.3f}" in table  # the other metrics stay
