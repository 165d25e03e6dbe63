"""The HTML report is one self-contained file: embedded PNGs, inline CSS, nothing fetched from the web."""

from __future__ import annotations

import re

import pytest
import torch

from genlab.viz.grid import make_grid, png_bytes
from genlab.viz.plots import loss_curves
from genlab.viz.report import Section, format_cell, write_report


def sections() -> list[Section]:
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    grid = png_bytes(make_grid(x, 4, scale=4))
    history = [{"step": s, "loss": 100.0 / s, "kl": 1.0 + s / 10} for s in range(10, 60, 10)]
    return [
        Section("Samples", "Sixteen <random> images.", grid, "a 4x4 grid", pixelated=True),
        Section("Training curves", image=loss_curves(history), caption="x: step"),
        Section("Metrics", "Numbers.", rows=[("test NELBO (nats)", 93.123456, "k=1"), ("steps", 1200, "")],
                header=("metric", "value", "how")),
    ]


def test_report_is_one_self_contained_html_file(tmp_path):
    path = write_report(tmp_path / "out" / "report.html", title="A & B report", sections=sections(),
                        subtitle="subtitle here")
    assert path == tmp_path / "out" / "report.html"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no side files, no temp left over
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert html.count('<img class="pixelated" src="data:image/png;base64,') == 1
    assert html.count('<img src="data:image/png;base64,') == 1
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(link|script)\b", html)  # inline CSS, no scripts
    assert "<style>" in html
    for heading in ("Samples", "Training curves", "Metrics"):
        assert f"<h2>{heading}</h2>" in html
    assert "<figcaption>a 4x4 grid</figcaption>" in html
    assert "&lt;random&gt;" in html and "A &amp; B report" in html  # text is escaped
    assert '<td class="num">93.12</td>' in html and '<td class="num">1200</td>' in html
    assert "<th>metric</th>" in html


def test_section_image_must_be_png(tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        write_report(tmp_path / "r.html", title="t", sections=[Section("x", image=b"GIF89a...")])


def test_format_cell():
    assert format_cell(0.000123456) == "0.0001235"
    assert format_cell(3) == "3"
    assert format_cell(1.5e9) == "1.500e+09"
    assert format_cell("nats") == "nats"
