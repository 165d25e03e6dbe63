"""`genlab generate`: refuses what it cannot do with one line (the happy path: tests/test_pipeline.py)."""

from __future__ import annotations

import pytest

from genlab.cli import main


def test_generate_refuses_a_run_that_is_not_text_to_image(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["generate", str(trained), "a thick seven", "-n", "2", "--out", str(tmp_path / "g.png")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "family t2i" in err and "genlab train t2i" in err
    assert not (tmp_path / "g.png").exists()


def test_generate_refuses_a_bad_count(trained, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["generate", str(trained), "a thick seven", "-n", "0", "--out", str(tmp_path / "g.png")])
    assert "-n" in capsys.readouterr().err
