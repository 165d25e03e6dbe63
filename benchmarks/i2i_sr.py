"""Super-resolution x2 and x4 on MNIST and emoji: `sr` (PSNR-oriented) against Pillow's bicubic and Lanczos,
and, on MNIST x4, `srgan` (the GAN variant) for the perception-distortion trade-off.

For each of sr2:mnist, sr4:mnist, sr2:emoji, sr4:emoji (the low-res images are the test images downsampled
by Pillow's BICUBIC filter, genlab/data/pairs.py), train `sr` for `--budget` CPU-seconds on the training
pairs, then measure on the test pairs (all 10,000 MNIST test images, all 401 emoji test images):
    PSNR (dB) and SSIM (genlab.eval.metrics; 11x11 Gaussian window) of sr, Pillow BICUBIC and LANCZOS upscaling
Target (issue 18): sr >= bicubic + 3 dB (PSNR), and a higher SSIM.
On sr4:mnist, also `srgan` (--gan-budget CPU-seconds) and FID / precision / recall of the outputs of each
against the 10,000 test images in the genlab-mnist classifier's feature space.
Target: srgan has a lower FID and a higher precision than sr (it trades PSNR for realism).
Pictures: docs/images/i2i_sr_mnist.png, i2i_sr_emoji.png (rows: low-res, bicubic, sr, high-res) and
docs/images/i2i_sr_tradeoff.png (rows: low-res, bicubic, sr, srgan, high-res).

    .venv/bin/python benchmarks/i2i_sr.py                 # 180 CPU-s per sr run, 420 for srgan
    .venv/bin/python benchmarks/i2i_sr.py --quick --no-write
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse

import torch
from _common import ROOT, write_result
from i2i_common import classifier_figures, train_run, translate_all

SR_MODEL = {"width": 32, "blocks": 4}
SRGAN_MODEL = {"width": 32, "blocks": 4, "feature_weight": 1.0, "adversarial_weight": 1e-2, "d_channels": [32, 64]}
IMAGES = ROOT / "docs" / "images"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=180.0, help="CPU-seconds of training per sr run")
    p.add_argument("--gan-budget", type=float, default=420.0, help="CPU-seconds of training of srgan")
    p.add_argument("--tasks", default="sr2:mnist,sr4:mnist,sr2:emoji,sr4:emoji")
    p.add_argument("--no-gan", action="store_true")
    p.add_argument("--quick", action="store_true", help="20 CPU-s runs, 1000 test images (smoke test)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--set", default="", help="JSON of srgan options replacing SRGAN_MODEL's (for tuning)")
    p.add_argument("--zoom-only", action="store_true", help="only write docs/images/i2i_sr_zoom.png from the runs "
                   "a full run left in runs/bench-i2i (sr, srgan, high-res of 4 test digits, magnified)")
    return p.parse_args(argv)


def baselines(data, method: str) -> torch.Tensor:
    from genlab.data.pairs import upsample

    factor = data.target.shape[-1] // data.source.shape[-1]
    return upsample(data.source, factor, method).float() / 255.0


def quality(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    from genlab.eval.metrics import psnr, ssim

    return {"psnr": round(float(psnr(x_hat, x).mean()), 3), "ssim": round(float(ssim(x_hat, x).mean()), 4)}


def picture(rows: list[torch.Tensor], path, n: int = 10) -> str:
    import torch.nn.functional as F

    from genlab.viz.grid import save_grid

    size = rows[-1].shape[-1]
    cells = [F.interpolate(r[:n], size=(size, size), mode="nearest") if r.shape[-1] != size else r[:n] for r in rows]
    save_grid(torch.cat(cells), path, nrow=n, scale=3)
    return str(path.relative_to(ROOT))


def zoom(path, idx=(7, 8, 11, 18)) -> None:
    """sr, srgan and the high-res image of test digits idx of sr4:mnist, 8x magnified (rows)."""
    from genlab.data import load_data
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    test = load_data("sr4:mnist", split="test").subset(max(idx) + 1)
    s, x = test.sources(), test.images()
    rows = [load_run(ROOT / "runs" / "bench-i2i" / name).model.sample(len(s), cond=s).x
            for name in ("sr4-mnist", "srgan-sr4-mnist")]
    save_grid(torch.cat([r[list(idx)] for r in (*rows, x)]), path, nrow=len(idx), scale=8)


def main(argv=None) -> None:
    import json

    from genlab.data import load_data
    from genlab.runs import load_run

    a = parse_args(argv)
    if a.zoom_only:
        return zoom(IMAGES / "i2i_sr_zoom.png")
    budget, gan_budget = (20.0, 30.0) if a.quick else (a.budget, a.gan_budget)
    figures: dict = {}
    met = True
    for task in a.tasks.split(","):
        test = load_data(task, split="test")
        if a.quick:
            test = test.subset(1000)
        info = train_run("sr", task.replace(":", "-"), task, SR_MODEL, budget=budget)
        model = load_run(ROOT / info["run"]).model
        x = test.images()
        out = translate_all(model, test.sources())
        row = {"sr": quality(out, x), "bicubic": quality(baselines(test, "bicubic"), x),
               "lanczos": quality(baselines(test, "lanczos"), x), "test_pairs": len(test), **info}
        row["psnr_gain_over_bicubic_db"] = round(row["sr"]["psnr"] - row["bicubic"]["psnr"], 3)
        row["target_met"] = row["psnr_gain_over_bicubic_db"] >= 3.0 and row["sr"]["ssim"] > row["bicubic"]["ssim"]
        met = met and row["target_met"]
        figures[task] = row
        print(task, json.dumps(row), flush=True)
        if task.startswith("sr4") and not a.no_write:
            name = task.split(":")[1]
            row["picture"] = picture([test.sources(), baselines(test, "bicubic"), out, x],
                                     IMAGES / f"i2i_sr_{name}.png")
    if not a.no_gan:
        from genlab.eval.classifier import available_classifier

        task = "sr4:mnist"
        test = load_data(task, split="test")
        if a.quick:
            test = test.subset(1000)
        model_opts = {**SRGAN_MODEL, **(json.loads(a.set) if a.set else {})}
        info = train_run("srgan", "srgan-sr4-mnist", task, model_opts, budget=gan_budget, lr=1e-3)
        gan = load_run(ROOT / info["run"]).model
        sr = load_run(ROOT / figures[task]["run"]).model if task in figures else None
        clf = available_classifier("mnist")
        x = test.images()
        outs = {"bicubic": baselines(test, "bicubic"), "srgan": translate_all(gan, test.sources())}
        if sr is not None:
            outs["sr"] = translate_all(sr, test.sources())
        trade = {k: {**quality(v, x), **classifier_figures(clf, v, x, test.y)} for k, v in outs.items()}
        trade["high-res (test images against themselves)"] = classifier_figures(clf, x, x, test.y)
        trade["srgan_run"] = {**info, "model": model_opts}
        if sr is not None:
            trade["target_met"] = (trade["srgan"]["fid"] < trade["sr"]["fid"]
                                   and trade["srgan"]["precision"] > trade["sr"]["precision"])
            met = met and trade["target_met"]
            if not a.no_write:
                trade["picture"] = picture([test.sources(), outs["bicubic"], outs["sr"], outs["srgan"], x],
                                           IMAGES / "i2i_sr_tradeoff.png")
        figures["perception-distortion (sr4:mnist)"] = trade
        print(json.dumps(trade), flush=True)
    notes = ("sr: SRResNet without batch norm (width 32, 4 residual blocks, sub-pixel x2 stages, residual over torch "
             "bicubic upsampling), L1 loss, Adam lr 1e-3, batch 32, one thread, budget_clock cpu. Low-res images: "
             "Pillow BICUBIC downsampling of the high-res ones. Baselines upscale them with Pillow BICUBIC / LANCZOS. "
             "srgan: the same generator + feature loss on the first two conv blocks of the genlab-mnist classifier + "
             "a DCGAN discriminator (ns loss), trained from scratch. FID/precision/recall: genlab-mnist classifier "
             "features, k = 3, against the 10k test images.")
    if not a.no_write:
        write_result("i2i_sr_quick" if a.quick else "i2i_sr", {**figures, "all_targets_met": met}, notes=notes,
                     threads=1, headline={"figure": "all_targets_met", "target": "sr >= bicubic + 3 dB; srgan lower "
                                          "FID and higher precision than sr", "met": met})


if __name__ == "__main__":
    main()
