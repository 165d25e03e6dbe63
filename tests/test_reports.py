"""`genlab report RUN`: one self-contained page whose sections follow the run's capabilities."""

from __future__ import annotations

import re

import pytest

from genlab.viz.plots import wants_log_scale
from tests.cli.conftest import TINY_VAE, cli


def sections(html: str) -> list[str]:
    return re.findall(r"<h2[^>]*>([^<]+)</h2>", html)


def test_a_log_scale_only_where_the_first_steps_would_flatten_the_rest():
    assert wants_log_scale([400.0, 60.0, 20.0, 12.0, 11.0, 10.5])
    assert not wants_log_scale([5.0, 4.0, 3.5, 3.0, 2.9, 2.8])
    assert not wants_log_scale([400.0, 60.0, -1.0, 12.0, 11.0, 10.5])  # not all positive
    assert not wants_log_scale([400.0, 1.0])  # too few points to say


def test_a_latent_run_gets_curves_samples_reconstructions_and_a_tsne_map(tmp_path, capsys):
    cli("train", *TINY_VAE, "--runs-dir", str(tmp_path), "--name", "v")
    cli("report", str(tmp_path / "v"), "--n", "16")
    assert "report: " in capsys.readouterr().out
    html = (tmp_path / "v" / "report.html").read_text()
    assert sections(html) == ["Run", "Training curves", "Samples", "Reconstructions", "Interpolation",
                              "Latent space"]
    assert "by t-SNE" in html and f"genlab train --config {tmp_path / 'v' / 'config.json'}" in html
    assert not re.search(r"""(src|href)=["']https?:""", html)  # nothing is fetched: images are data URIs
    with pytest.raises(SystemExit) as e:  # an existing report is not replaced silently
        cli("report", str(tmp_path / "v"))
    assert e.value.code == 2 and "--overwrite" in capsys.readouterr().err
    cli("report", str(tmp_path / "v"), "--overwrite", "--out", str(tmp_path / "other.html"))
    assert (tmp_path / "other.html").is_file()


def test_a_text_run_gets_text_samples_and_an_attention_map(tmp_path):
    (tmp_path / "t.txt").write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40)
    cli("train", "gpt", "--data", f"text:{tmp_path / 't.txt'}", "--layers", "2", "--heads", "2", "--dim", "16",
        "--context", "16", "--train.steps", "4", "--train.batch-size", "8", "--train.no-progress",
        "--runs-dir", str(tmp_path), "--name", "g")
    cli("report", str(tmp_path / "g"))
    html = (tmp_path / "g" / "report.html").read_text()
    assert sections(html) == ["Run", "Training curves", "Samples", "Attention"]


def test_a_missing_run_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli("report", str(tmp_path / "nothing"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "not a genlab run" in err


def test_a_topic_model_run_gets_its_topics(tmp_path):
    (tmp_path / "docs").mkdir()
    for i in range(30):  # each file of a text:FOLDER is a document
        (tmp_path / "docs" / f"{i:02d}.txt").write_text("the king and the queen speak of war and crowns\n" if i % 2
                                                        else "the fool sings of love and wine and song\n")
    cli("train", "lda", "--data", f"text:{tmp_path / 'docs'}", "--topics", "2", "--max-words", "40",
        "--min-df", "1", "--max-df", "1.0", "--iterations", "5", "--train.no-progress",
        "--runs-dir", str(tmp_path), "--name", "l")
    cli("report", str(tmp_path / "l"))
    html = (tmp_path / "l" / "report.html").read_text()
    assert "Topics" in sections(html) and "king" in html


def test_a_pairs_run_reports_the_metrics_of_its_kind(tmp_path):
    # genlab eval of an image-pair run writes the kind's figures (PSNR, SSIM), not the image protocol
    cli("train", "sr", "--data", "sr2:digits", "--width", "4", "--blocks", "1", "--train.steps", "3",
        "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "sr")
    cli("eval", str(tmp_path / "sr"), "--n", "50")
    cli("report", str(tmp_path / "sr"))
    html = (tmp_path / "sr" / "report.html").read_text()
    assert "image-pair metrics on sr2:digits/test" in html and re.search(r"psnr</td><td>\d", html)


def test_a_compression_run_gets_its_rate_point_beside_the_codecs(tmp_path):
    cli("train", "cae", "--data", "digits", "--channels", "4", "8", "--latent-channels", "2", "--mixture", "2",
        "--train.steps", "3", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "c")
    cli("report", str(tmp_path / "c"))
    html = (tmp_path / "c" / "report.html").read_text()
    assert "Rate and distortion" in sections(html)
    assert re.search(r"\d+\.\d{3} bits per pixel at \d+\.\d\d dB PSNR", html)
