"""`genlab sample` of a text run: --prompt and --max-tokens, streamed to the terminal; text options."""

from __future__ import annotations

import pytest

from tests.cli.conftest import cli


@pytest.fixture
def text_run(tmp_path):
    (tmp_path / "t.txt").write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40)
    cli("train", "gpt", "--data", f"text:{tmp_path / 't.txt'}", "--layers", "1", "--heads", "2", "--dim", "16",
        "--context", "16", "--train.steps", "4", "--train.batch-size", "8", "--train.no-progress",
        "--runs-dir", str(tmp_path), "--name", "g")
    return tmp_path / "g"


def test_prompt_and_max_tokens_stream_text(text_run, tmp_path, capsys):
    cli("sample", str(text_run), "--prompt", "ROMEO:", "--max-tokens", "30",
        "--option", "temperature=0.8", "top_k=5", "top_p=0.95")
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and len(out.rstrip("\n")) >= 6 + 20  # 30 characters (some may be newlines)
    cli("sample", str(text_run), "-n", "2", "--max-tokens", "10", "--out", str(tmp_path / "s.txt"))
    out = capsys.readouterr().out
    assert "--- sample 2 ---" in out and (tmp_path / "s.txt").read_text().count("\n---\n") == 1


def test_prompt_is_refused_for_an_image_run(tmp_path, capsys):
    from tests.cli.conftest import TINY_VAE

    cli("train", *TINY_VAE, "--train.steps", "1", "--runs-dir", str(tmp_path), "--name", "v")
    with pytest.raises(SystemExit):
        cli("sample", str(tmp_path / "v"), "--prompt", "hi")
    assert "--prompt and --max-tokens are for text runs" in capsys.readouterr().err
