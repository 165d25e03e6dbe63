"""`genlab info` and `genlab datasets`."""

from __future__ import annotations

import json
import re

from tests.cli.conftest import cli


def test_info_shows_the_run(trained, capsys):
    cli("info", str(trained))
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "vae" and info["step"] == 12 and "likelihood" in info["capabilities"]


def test_datasets_lists_availability(capsys):
    cli("datasets")
    out = capsys.readouterr().out
    assert "digits" in out and "mnist" in out and "folder:PATH" in out
    rows = [line for line in out.splitlines() if not line.startswith("also:")]
    starts = {m.start() for m in (re.search(r" \dx\d+x\d+ ", line) for line in rows) if m}
    assert len(starts) == 1, rows  # the shape column lines up, whatever the longest name (fashion-mnist-captions)
