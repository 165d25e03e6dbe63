"""One likelihood scale: bits/dim and nats agree across data kinds on cases computed by hand, and the likelihood
table puts families on the same test images with their units and exact/bound labels."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.eval import likelihood as L
from genlab.eval.leaderboard import likelihood_section
from genlab.models import build_model

D = 16  # 1x4x4 test images


class _Constant(torch.nn.Module):
    """A model whose every image gets the same nats: the Likelihood capability, duck-typed."""

    family = "constant"
    likelihood_options = ()
    conditional = False

    def __init__(self, kind: str, nats: float, exact: bool = True, options=()):
        super().__init__()
        self.likelihood_kind, self.likelihood_exact, self.nats = kind, exact, nats
        self.likelihood_options = tuple(options)
        self.w = torch.nn.Parameter(torch.zeros(()))

    def nll(self, x, y=None, *, generator=None, k: int = 1):
        return torch.full((x.shape[0],), self.nats, dtype=torch.float64)


def _images(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 4, 4), generator=g).float() / 255.0


def _entry(name, model, x, **kw):
    r = L.evaluate_likelihood(model, x, generator=torch.Generator().manual_seed(0), per_example=True, **kw)
    return {"family": name, "nats": [r["likelihood_nats"]], "dims": r["likelihood_dims"], "data": r["likelihood_data"],
            "note": r["likelihood_note"], "claim": r["likelihood_claim"], "label": r["likelihood_label"]}, r


def test_bits_per_dim_and_nats_agree_across_families_on_cases_computed_by_hand():
    x = _images()
    # a density uniform on [0, 1]^D: -log p(y) = 0, and dequantization adds D ln 256 -> 8 bits/dim
    uniform_density, r1 = _entry("uniform-density", _Constant("continuous", 0.0), x)
    # a probability mass uniform over the 256 levels of each pixel: D ln 256 nats -> 8 bits/dim
    uniform_mass, r2 = _entry("uniform-256", _Constant("discrete", D * math.log(256)), x)
    # Bernoulli(1/2) on binary pixels: D ln 2 nats -> 1 bit/dim
    coin, r3 = _entry("bernoulli-half", _Constant("binary", D * math.log(2)), x, binarized="static")
    # an unfitted table (uniform over its 2^4 entries) of 2x2 binary cells: 4 ln 2 nats over D = 4 -> 1 bit/dim
    table, r4 = _entry("table", build_model("table", {"k": 2}, shape=(1, 4, 4)), x)
    for r, nats, bpd in ((r1, D * math.log(256), 8.0), (r2, D * math.log(256), 8.0), (r3, D * math.log(2), 1.0),
                         (r4, 4 * math.log(2), 1.0)):
        assert r["nll_nats"] == pytest.approx(nats, rel=1e-12) and r["bits_per_dim"] == pytest.approx(bpd, rel=1e-12)
        assert r["nll_nats"] == pytest.approx(r["bits_per_dim"] * r["likelihood_dims"] * math.log(2), rel=1e-12)
    assert r4["likelihood_dims"] == 4 and r1["likelihood_dims"] == D

    table = L.likelihood_table([uniform_density, uniform_mass, coin, table])
    rows = {r["family"]: r for r in table["rows"]}
    assert table["n"] == 12
    assert rows["uniform-density"]["units"] == rows["uniform-256"]["units"] == "bits/dim"
    assert rows["uniform-density"]["value"] == pytest.approx(8.0) == rows["uniform-256"]["value"]
    assert rows["bernoulli-half"]["units"] == rows["table"]["units"] == "nats/image"
    assert rows["bernoulli-half"]["value"] == pytest.approx(D * math.log(2))
    assert rows["table"]["value"] == pytest.approx(4 * math.log(2))
    assert rows["table"]["bits_per_dim"] == pytest.approx(1)
    assert rows["uniform-density"]["note"] == "8-bit pixels, dequantized density"
    assert rows["uniform-256"]["note"] == "8-bit pixels (probability mass)"
    assert rows["bernoulli-half"]["note"] == "binary pixels (static)"
    assert rows["table"]["note"] == "binary 1x2x2 summary (the model's own)"
    assert all(r["claim"] == "exact" for r in rows.values())
    # binary rows first, grouped by what they are of; the two 8-bit rows (one scale) together
    assert [r["family"] for r in table["rows"]][2:] in (["uniform-density", "uniform-256"],
                                                          ["uniform-256", "uniform-density"])


def test_bounds_are_labelled_elbo_or_iwae_k():
    x = _images()
    bound = _Constant("binary", 50.0, exact=False, options=("k",))
    elbo, _ = _entry("vae", bound, x, binarized="dynamic")
    iwae, _ = _entry("vae-iwae", bound, x, binarized="dynamic", k=5)
    assert elbo["claim"] == "upper bound (negative ELBO)" and iwae["claim"] == "upper bound (IWAE, k=5)"
    grey, _ = _entry("grey", _Constant("binary", 50.0), x)
    assert grey["note"] == "grey levels as Bernoulli probs (a cross-entropy)"
    assert "cross-entropy, not a likelihood" in grey["label"]


def test_every_family_is_averaged_over_the_same_first_test_images():
    base = {"dims": 4, "data": "binary", "note": "binary pixels (static)", "claim": "exact"}
    table = L.likelihood_table([{**base, "family": "a", "nats": [[1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 0.0, 0.0]]},
                                {**base, "family": "b", "nats": [[10.0, 20.0, 30.0]]},
                                {**base, "family": "failed", "nats": []}])
    rows = {r["family"]: r for r in table["rows"]}
    assert table["n"] == 3 and set(rows) == {"a", "b"}
    assert rows["a"]["value"] == pytest.approx(((1 + 2 + 3) / 3 + (3 + 4 + 0) / 3) / 2) and rows["a"]["seeds"] == 2
    assert rows["b"]["value"] == pytest.approx(20.0) and rows["b"]["n"] == 3
    assert [r["family"] for r in table["rows"]] == ["a", "b"]  # lower is better within a group
    assert L.likelihood_table([]) == {"n": 0, "rows": []}


def test_the_section_renders_units_claims_and_sizes():
    table = {"n": 3, "rows": [
        {"family": "table", "value": 2.5, "units": "nats/image", "nll_nats": 2.5, "bits_per_dim": 0.9, "claim": "exact",
         "data": "binary", "note": "binary 1x2x2 summary (the model's own)", "dims": 4, "n": 3, "seeds": 1,
         "parameters": 15, "parameters_of": "free"},
        {"family": "vae", "value": 1.5, "units": "bits/dim", "nll_nats": 70.0, "bits_per_dim": 1.5,
         "claim": "upper bound (negative ELBO)", "data": "continuous", "note": "8-bit pixels, dequantized density",
         "dims": 64, "n": 3, "seeds": 1, "parameters": 1234, "parameters_of": "trainable"}]}
    md = "\n".join(likelihood_section(table, "digits"))
    assert "### Likelihood on one scale (digits, the same first 3 test images for every family)" in md
    assert ("| table | 2.500 | nats/image | exact | binary 1x2x2 summary (the model's own) | 4 | 2.50 | 0.9000 | "
            "15 free |") in md
    assert "| vae | 1.500 | bits/dim | upper bound (negative ELBO) |" in md and "| 1,234 |" in md
    assert likelihood_section(None, "digits") == [] and likelihood_section({"n": 0, "rows": []}, "x") == []
