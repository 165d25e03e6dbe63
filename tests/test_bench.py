"""`genlab eval` and `genlab bench` end to end on digits with tiny models and budgets."""

from __future__ import annotations

import json
import math
from typing import ClassVar

import pytest
import torch

from genlab.bench import affordable_n, parse_budget, per_image_at_batch, resolve_families
from genlab.cli import main
from genlab.models import FAMILIES
from genlab.models.base import GenerativeModel


@pytest.fixture
def tiny_run(tmp_path, cache_env):
    main(["train", "vae", "--data", "digits", "--arch", "mlp", "--hidden", "16", "--latent-dim", "4",
          "--train.steps", "10", "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "v"])
    return tmp_path / "v"


def test_eval_writes_metrics_json_and_prints_a_table(tiny_run, capsys):
    main(["eval", str(tiny_run), "-n", "60", "--seeds", "0", "1"])
    out = capsys.readouterr().out
    assert "FID (genlab-digits classifier)" in out and "negative ELBO" in out
    assert "(SSIM: 7x7 Gaussian window (sigma 1.5; 11x11 shrunk to fit 8x8 images))" in out
    saved = json.loads((tiny_run / "metrics.json").read_text())
    m, p = saved["metrics"], saved["protocol"]
    assert m["fid"]["n"] == 2 and len(m["fid"]["values"]) == 2
    assert {"mse", "psnr", "ssim", "nll_nats", "bits_per_dim", "precision", "coverage"} <= set(m)
    assert p["seeds"] == [0, 1] and p["n_fake"] == 60 and p["extra"]["family"] == "vae"


def test_eval_features_and_bad_targets(cache_env, capsys):
    main(["eval", "features", "digits"])
    out = capsys.readouterr().out
    assert "genlab-digits classifier [recipe e132810d86d72ed6, weights 1d99d75aab4ebecd]" in out
    assert "shipped with genlab" in out
    with pytest.raises(SystemExit):
        main(["eval", "a", "b", "c"])
    assert "usage: genlab eval RUN" in capsys.readouterr().err


def test_budget_and_family_parsing():
    assert parse_budget("10m") == 600 and parse_budget("90s") == 90 and parse_budget("1.5h") == 5400
    assert parse_budget("45") == 45
    with pytest.raises(ValueError, match="10m"):
        parse_budget("ten minutes")
    every = resolve_families("all")  # the families that sample images: no text, pair or image-text family
    assert every and set(every) < set(FAMILIES) and "dcgan" in every and "pixelcnn" in every
    assert not {"gpt", "lda", "pix2pix", "clip", "t2i"} & set(every)
    with pytest.raises(ValueError, match="valid"):
        resolve_families("ae,nope")


def test_sampling_cost_per_image_counts_a_calls_fixed_part_once_per_batch():
    # 784 sequential steps cost 2 s whatever the batch, plus 10 ms an image: 8 images alone read as 260 ms each
    fixed, per = 2.0, 0.01
    est = per_image_at_batch((8, 40), (fixed + 8 * per, fixed + 40 * per), 500)
    assert math.isclose(est, per + fixed / 500)
    assert math.isclose(per_image_at_batch((8, 40), (0.08, 0.40), 500), 0.01)  # no fixed part
    assert math.isclose(per_image_at_batch((8, 40), (1.0, 0.9), 500), 1.0 / 500)  # noise: all of it fixed
    n, note = affordable_n(10000, est, 240.0, 500)  # 10,000 fit the cap at 14 ms; at 260 ms only 900 would
    assert n == 10000 and note == ""


class _Broken(GenerativeModel):
    """A family whose training always fails (to check the leaderboard row)."""

    family: ClassVar[str] = "broken"
    Config: ClassVar[type] = FAMILIES["ae"].Config

    def __init__(self, config, spec):
        super().__init__(config, spec)
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_losses(self, batch, *, generator=None, player=None):
        raise RuntimeError("this family cannot train")


def test_bench_writes_a_leaderboard_with_failed_rows(tmp_path, cache_env, monkeypatch, capsys):
    monkeypatch.setitem(FAMILIES, "broken", _Broken)
    out = tmp_path / "bench"
    main(["bench", "--data", "digits", "--families", "ae,broken", "--budget", "1s", "--n", "100",
          "--n-curve", "50", "--curve-points", "2", "--out", str(out), "--threads", "1"])
    board = json.loads((out / "leaderboard.json").read_text())
    rows = {r["family"]: r for r in board["rows"]}
    assert rows["ae"]["status"] == "ok" and rows["ae"]["metrics"]["fid"]["n"] == 1
    assert len(rows["ae"]["curve"]["0"]) == 2
    assert rows["broken"]["status"] == "failed" and "cannot train" in rows["broken"]["notes"][0]
    assert rows["real data (train split)"]["status"] == "reference"
    md = (out / "leaderboard.md").read_text()
    assert "FAILED" in md and "FID (genlab-digits classifier)" in md and "genlab bench" in md
    assert "SSIM with 7x7 Gaussian window (sigma 1.5; 11x11 shrunk to fit 8x8 images)" in md  # the window used
    assert "11x11 Gaussian window)" not in md and "weights 1d99d75aab4ebecd" in md
    assert (out / "contact_sheet.png").stat().st_size > 0 and (out / "quality_vs_time.png").stat().st_size > 0


def test_bench_runs_ldm_in_the_latent_space_of_its_own_autoencoder(tmp_path, cache_env):
    out = tmp_path / "bench"
    main(["bench", "--data", "digits", "--families", "ae,ldm", "--budget", "1s", "--n", "60", "--curve-points", "1",
          "--out", str(out), "--threads", "1", "--option", "ldm.hidden=32", "--option", "ldm.timesteps=50"])
    rows = {r["family"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}
    assert rows["ldm"]["status"] == "ok", rows["ldm"]["notes"]
    assert any("latent space of this bench's ae run" in n for n in rows["ldm"]["notes"])
    config = json.loads((out / "runs" / "ldm-s0" / "config.json").read_text())
    assert config["model"]["autoencoder"] == str(out / "runs" / "ae-s0")


def test_bench_trains_families_in_parallel_processes_with_the_same_rows(tmp_path, cache_env):
    out = tmp_path / "bench"
    main(["bench", "--data", "digits", "--families", "ldm,ae,pca", "--budget", "1s", "--n", "60",
          "--curve-points", "1", "--out", str(out), "--threads", "2", "--jobs", "2", "--option", "ldm.hidden=32",
          "--option", "ldm.timesteps=50"])
    board = json.loads((out / "leaderboard.json").read_text())
    rows = {r["family"]: r for r in board["rows"]}
    assert [r["family"] for r in board["rows"]][1:] == ["ldm", "ae", "pca"]  # bench order, whatever finished first
    assert all(rows[f]["status"] == "ok" for f in ("ldm", "ae", "pca")), [rows[f]["notes"] for f in rows]
    assert any("latent space of this bench's ae run" in n for n in rows["ldm"]["notes"])  # ldm waited for ae
    assert all(math.isfinite(rows[f]["metrics"]["fid"]["mean"]) for f in ("ldm", "ae", "pca"))
    assert "--jobs 2" in board["command"]


def test_bench_ldm_without_an_autoencoder_says_how_to_fix_it(tmp_path, cache_env):
    out = tmp_path / "bench"
    main(["bench", "--data", "digits", "--families", "ldm", "--budget", "1s", "--n", "60", "--curve-points", "1",
          "--out", str(out), "--threads", "1"])
    row = json.loads((out / "leaderboard.json").read_text())["rows"][1]
    assert row["status"] == "failed" and "add vae (or ae, dae) to --families" in row["notes"][0]


def test_bench_evaluates_a_slow_likelihood_on_fewer_test_images(tmp_path, cache_env, monkeypatch):
    import genlab.bench as bench

    monkeypatch.setattr(bench, "likelihood_seconds_per_image", lambda model, cfg: 1.0)  # 1 s per image
    out = tmp_path / "bench"
    main(["bench", "--data", "digits", "--families", "vae", "--budget", "1s", "--n", "60", "--curve-points", "1",
          "--out", str(out), "--threads", "1", "--sample-cap", "400", "--option", "vae.arch=mlp"])
    row = json.loads((out / "leaderboard.json").read_text())["rows"][1]
    assert row["status"] == "ok" and "bits_per_dim" in row["metrics"]
    assert any(n.startswith("likelihood on n=200") for n in row["notes"]), row["notes"]


def test_bench_writes_one_likelihood_table_on_the_same_test_images(tmp_path, cache_env):
    out = tmp_path / "bench"
    main(["bench", "--data", "digits", "--families", "table,pca,vae", "--budget", "1s", "--n", "60",
          "--curve-points", "1", "--out", str(out), "--threads", "1", "--option", "vae.arch=mlp",
          "--option", "pca.components=8"])
    board = json.loads((out / "leaderboard.json").read_text())
    lik, board_rows = board["likelihood"], {r["family"]: r for r in board["rows"]}
    rows = {r["family"]: r for r in lik["rows"]}
    assert set(rows) == {"table", "pca", "vae"} and all(r["n"] == lik["n"] > 0 for r in rows.values())
    t, p, v = rows["table"], rows["pca"], rows["vae"]
    assert (t["units"], t["claim"], t["dims"], t["data"]) == ("nats/image", "exact", 4, "binary")
    assert t["note"] == "binary 1x2x2 summary (the model's own)"
    assert (t["parameters"], t["parameters_of"]) == (15, "free") and board_rows["table"]["free_parameters"] == 15
    assert board_rows["table"]["notes"] == ["samples are its 1x2x2 binary cells blown up to 1x8x8 pixels: it draws "
                                            "no finer (docs/LIKELIHOOD.md)"]
    assert board_rows["pca"]["notes"] == []
    assert (p["units"], p["claim"], p["dims"], p["data"]) == ("bits/dim", "exact", 64, "continuous")
    assert p["note"] == "8-bit pixels, dequantized density" and p["parameters_of"] == "fitted"
    assert (v["units"], v["claim"], v["dims"]) == ("nats/image", "upper bound (negative ELBO)", 64)
    assert v["note"] == "grey levels as Bernoulli probs (a cross-entropy)" and v["parameters_of"] == "trainable"
    for name, r in rows.items():  # every family was scored on all the images here: the leaderboard's numbers
        assert r["nll_nats"] == pytest.approx(board_rows[name]["metrics"]["nll_nats"]["mean"], rel=1e-9), name
        assert r["bits_per_dim"] == pytest.approx(r["nll_nats"] / (r["dims"] * math.log(2)))
    md = (out / "leaderboard.md").read_text()
    assert f"### Likelihood on one scale (digits, the same first {lik['n']} test images for every family)" in md
    assert "| table |" in md and "| exact | binary 1x2x2 summary (the model's own) | 4 |" in md and "15 free" in md


def test_bench_trains_each_family_with_its_preset():
    from genlab.bench import BenchConfig, _train_config

    assert _train_config("dcgan", 0, BenchConfig(), 1).batch_size == 64  # the cpu recipe's
    assert _train_config("dcgan", 0, BenchConfig(preset="paper"), 1).batch_size == 128
    assert _train_config("dcgan", 0, BenchConfig(batch_size=32), 1).batch_size == 32  # --batch-size wins
    cfg = BenchConfig(train_options={"dcgan": {"batch_size": 16, "ema_decay": 0.0}})
    tc = _train_config("dcgan", 0, cfg, 4)
    assert tc.batch_size == 16 and tc.ema_decay == 0.0 and tc.time_budget == cfg.budget / 4


def test_genlab_eval_scores_a_conditional_models_marginal_on_fewer_images_at_the_same_cost():
    from types import SimpleNamespace

    from genlab.bench import likelihood_images

    plain, cond = SimpleNamespace(conditional=False), SimpleNamespace(conditional=True, num_classes=10)
    assert likelihood_images(plain, 1000) == 1000 and likelihood_images(plain, 0) == 0
    assert likelihood_images(cond, 1000) == 100 and likelihood_images(cond, 5000) == 500
    assert likelihood_images(cond, 50) == 50 and likelihood_images(cond, 0) == 0  # never more than asked for
