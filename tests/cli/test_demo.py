"""The demo end to end on the 8x8 digits with a tiny budget (the real one is run by hand: see run_demo)."""

from __future__ import annotations

import math
import re

import pytest

from genlab.cli.demo import HEADINGS, load_demo_data, run_demo
from genlab.data.base import DataError


def test_demo_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "demo"
    path = run_demo(out, data_name="digits", budget_s=2.0, seed=0, progress=False)
    assert path == out / "report.html" and path.is_file()
    assert (out / "samples.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "config.json").is_file()  # a normal run folder: genlab sample works on it
    html = path.read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    assert html.count('src="data:image/png;base64,') == 5
    assert not re.search(r"https?://", html)
    values = [float(v) for v in re.findall(r'<td class="num">([^<]*)</td>', html)]
    assert len(values) >= 9 and all(math.isfinite(v) for v in values)
    nelbo = re.search(r'test negative ELBO \(nats/image\)</td><td class="num">([^<]*)<', html)
    nelbo = float(nelbo.group(1))
    assert 0 < nelbo < 64 * math.log(2) * 1.5  # a bound in nats for 8x8 binary images, not wildly off
    assert "Bernoulli" in html and "seed" in html  # the binarization is stated
    assert str(path.resolve()) in capsys.readouterr().out


def test_demo_falls_back_to_digits_when_mnist_is_missing(monkeypatch, capsys):
    import genlab.data

    real = genlab.data.load_data

    def no_mnist(name, **kwargs):
        if name == "mnist":
            raise DataError("mnist: not found (test)")
        return real(name, **kwargs)

    monkeypatch.setattr(genlab.data, "load_data", no_mnist)
    name, train, test = load_demo_data("mnist")
    assert name == "digits" and train.shape == (1, 8, 8) and len(test) > 0
    assert "digits" in capsys.readouterr().out


def test_demo_does_not_hide_a_broken_fallback(monkeypatch):
    import genlab.data

    def nothing(name, **kwargs):
        raise DataError(f"{name}: not found (test)")

    monkeypatch.setattr(genlab.data, "load_data", nothing)
    with pytest.raises(DataError, match="digits"):
        load_demo_data("mnist")


def test_thread_check_returns_a_valid_count_and_restores_torch(monkeypatch):
    import torch

    import genlab.cli.demo
    from genlab.cli.demo import demo_config, fastest_threads
    from genlab.data import load_data

    config, data = demo_config("digits", 1.0, 0, False), load_data("digits")
    before = torch.get_num_threads()  # the suite runs on 1 thread (conftest); compare 1 with 2 here
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(genlab.cli.demo, "system_load", lambda: 0.0)  # idle: measure
        assert fastest_threads(config, data, trial_s=0.05) in (1, 2)
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(genlab.cli.demo, "system_load", lambda: 5.0)  # busy: 1 thread, no measuring
        assert fastest_threads(config, data) == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
