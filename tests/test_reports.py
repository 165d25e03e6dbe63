"""`genlab report RUN`: one self-contained page whose sections follow the run's capabilities."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.reports import grid_scale, text_width
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


# --- the newer data kinds: image pairs, image-text embeddings, text-to-image -----------------------------------
def section_picture(html: str, heading: str) -> np.ndarray:
    """The (H, W, 3) uint8 picture of the section headed `heading`."""
    body = html.split(f"<h2>{heading}</h2>", 1)[1].split("</section>", 1)[0]
    src = re.search(r'src="data:image/png;base64,([^"]+)"', body).group(1)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src))).convert("RGB"))


def grid_cells(picture: np.ndarray, h: int, w: int, ncol: int, nrow: int) -> np.ndarray:
    """(nrow, ncol, h, w) first channels of the cells of a `grid_png` of ncol columns (pad 2, scaled)."""
    s = grid_scale(h, ncol)
    out = np.zeros((nrow, ncol, h, w), dtype=np.uint8)
    for r in range(nrow):
        for c in range(ncol):
            top, left = (2 + r * (h + 2)) * s, (2 + c * (w + 2)) * s
            out[r, c] = picture[top:top + h * s:s, left:left + w * s:s, 0]
    return out


def test_a_super_resolution_run_shows_inputs_bicubic_outputs_and_targets(tmp_path):
    from genlab.data import load_data
    from genlab.data.pairs import upsample

    cli("train", "sr", "--data", "sr2:digits", "--width", "4", "--blocks", "1", "--train.steps", "3",
        "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "sr")
    cli("report", str(tmp_path / "sr"))
    html = (tmp_path / "sr" / "report.html").read_text()
    assert sections(html) == ["Run", "Training curves", "Translations"]  # no samples: it translates only
    assert re.search(r"PSNR of the outputs against the targets on these 10 pairs: \d+\.\d\d dB \(Pillow bicubic", html)
    test = load_data("sr2:digits", split="test")
    cells = grid_cells(section_picture(html, "Translations"), 8, 8, 10, 4)
    source, target = test.source[:10, 0].numpy(), test.target[:10, 0].numpy()
    assert np.array_equal(cells[0], source.repeat(2, axis=1).repeat(2, axis=2))  # each input pixel a 2x2 block
    assert np.array_equal(cells[1], upsample(test.source[:10], 2)[:, 0].numpy())  # Pillow bicubic
    assert np.array_equal(cells[3], target)  # the true targets, unchanged
    assert cells[2].std() > 0 and not np.array_equal(cells[2], cells[1])  # the model's own outputs


def test_a_cyclegan_run_shows_both_directions_and_the_way_back(tmp_path):
    from genlab.data import load_data

    cli("train", "cyclegan", "--data", "thin:digits", "--data-b", "thick:digits", "--channels", "4", "8",
        "--d-channels", "4", "--train.steps", "2", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "c")
    cli("report", str(tmp_path / "c"))
    html = (tmp_path / "c" / "report.html").read_text()
    assert "Translations" in sections(html) and "unpaired: no image has a true translation" in html
    assert "rows: domain A, A -&gt; B, back to A, domain B, B -&gt; A, back to B" in html
    cells = grid_cells(section_picture(html, "Translations"), 8, 8, 10, 6)
    a = load_data("thin:digits", split="test").x[0::2][:10, 0]
    b = load_data("thick:digits", split="test").x[1::2][:10, 0]
    assert np.array_equal(cells[0], a.numpy()) and np.array_equal(cells[3], b.numpy())
    assert all(cells[r].std() > 0 for r in (1, 2, 4, 5))


@pytest.fixture
def image_text_runs(tmp_path, monkeypatch):
    """A tiny clip and a t2i on it (captions naming the bright quadrant); their test split is tiny data whose
    classes are named by the quadrants, so the class names are prompts the captions' vocabulary can spell."""
    import dataclasses

    import genlab.reports
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train
    from tests.conftest import TINY, TINY_CLIP
    from tests.models.tiny_families import QUADRANTS, tiny_image_text

    tc = TrainConfig(steps=2, batch_size=8, progress=False, device="cpu")
    train(RunConfig("clip", TINY_CLIP, DataConfig("tiny"), tc), tmp_path / "clip", data=tiny_image_text(32))
    options = {k: v for k, v in TINY["t2i"].items() if k != "text_encoder_config"}
    train(RunConfig("t2i", {**options, "text_encoder": str(tmp_path / "clip")}, DataConfig("tiny"), tc),
          tmp_path / "t2i", data=tiny_image_text(32))
    test = dataclasses.replace(tiny_image_text(40, seed=1), classes=QUADRANTS)
    monkeypatch.setattr(genlab.reports, "load_training_data", lambda data, split="train": test)
    return tmp_path, test


def test_a_clip_run_classifies_test_images_zero_shot_and_retrieves_them_by_text(image_text_runs):
    from genlab.reports import write_run_report
    from genlab.viz.captions import CAPTION_HEIGHT

    root, test = image_text_runs
    html = write_run_report(root / "clip").read_text()
    assert sections(html) == ["Run", "Training curves", "Zero-shot classification", "Text to image retrieval"]
    assert re.search(r"no classifier was trained\. \d+ of 32 are right", html)
    assert re.search(r"The texts are class prompts; \d+ of 32 images found are of the class named", html)
    grid = section_picture(html, "Zero-shot classification")
    s = grid_scale(8, 8)  # 32 images, 8 a row, each with its caption below
    assert grid.shape == (4 * (8 * s + CAPTION_HEIGHT) + 5 * 2, 8 * 8 * s + 9 * 2, 3)
    first = grid[2:2 + 8 * s:s, 2:2 + 8 * s:s, 0]
    assert np.array_equal(first, test.x[0, 0].numpy())  # the test image itself, unchanged
    rows = section_picture(html, "Text to image retrieval")
    s = grid_scale(8, 11)
    assert rows.shape[0] == 4 * (8 + 2 * 2) * s  # one row per class prompt, its images padded by 2 on each side
    left = text_width(list(test.classes))
    cell = rows[2 * s:10 * s:s, left + 2 * s:left + 10 * s:s, 0]  # the first prompt's nearest image
    assert any(np.array_equal(cell, x[0].numpy()) for x in test.x)  # a test image, unchanged


def test_a_text_to_image_run_draws_a_row_per_prompt(image_text_runs):
    from genlab.reports import write_run_report

    root, test = image_text_runs
    html = write_run_report(root / "t2i").read_text()
    assert sections(html) == ["Run", "Training curves", "Prompts"]
    prompts = list(dict.fromkeys(test.captions[i][0] for i in torch.linspace(0, 39, 8).round().long().tolist()))
    assert all(p in html for p in ("one row per prompt", "2 steps", "guidance 3.0"))
    picture = section_picture(html, "Prompts")
    s, left = grid_scale(8, 11), text_width(prompts)
    assert picture.shape == (len(prompts) * (8 + 2 * 2) * s, left + (8 * (8 + 2) + 2) * s, 3)
    for row in range(len(prompts)):  # every prompt's first image is a real picture, not a flat square
        top = row * (8 + 4) * s
        assert picture[top + 2 * s:top + 10 * s, left + 2 * s:left + 10 * s].std() > 0
