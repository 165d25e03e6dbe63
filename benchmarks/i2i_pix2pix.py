"""pix2pix, Sobel edges -> digit on MNIST: does genlab's classifier recognise the source digit in the outputs?

Train `pix2pix` on edges:mnist (the Sobel gradient magnitude of each training image as the source, the image as
the target; genlab/data/pairs.py) for `--budget` CPU-seconds, then translate the edges of all 10,000 test images
and measure:
    accuracy   the genlab-mnist classifier's prediction on the translation equals the test label (target >= 95%)
    L1, SSIM   of the translation against the true test image (genlab.eval.metrics.ssim, 11x11 window)
    FID, precision, recall   against the test images, genlab-mnist classifier features
For context the same figures of the edge images themselves (what the classifier makes of the raw source).
Picture: docs/images/i2i_pix2pix_edges.png (rows: edges, pix2pix, true image).

    .venv/bin/python benchmarks/i2i_pix2pix.py            # 480 CPU-s
    .venv/bin/python benchmarks/i2i_pix2pix.py --quick --no-write
    .venv/bin/python benchmarks/i2i_pix2pix.py --data grey:emoji --budget 240   # greyscale -> colour

With `--data` other than edges:mnist (e.g. grey:emoji, unlabelled: no classifier judges it), the figures are L1,
PSNR and SSIM of the translations against the truth, beside those of the source copied to every channel; the
result goes to i2i_pix2pix_<form>_<dataset>.json and the picture to docs/images/i2i_pix2pix_<form>_<dataset>.png.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json

import torch
from _common import ROOT, write_result
from i2i_common import classifier_figures, train_run, translate_all

MODEL = {"channels": [16, 32, 32], "d_channels": [16, 32]}


def main(argv=None) -> None:
    from genlab.data import load_data
    from genlab.eval.classifier import available_classifier
    from genlab.eval.metrics import ssim
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=480.0)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--set", default="", help="JSON of pix2pix options replacing MODEL's")
    p.add_argument("--data", default="edges:mnist", help="the pairs to train on (edges:mnist is judged by the "
                   "genlab-mnist classifier; others by L1, PSNR, SSIM only)")
    a = p.parse_args(argv)
    if a.data != "edges:mnist":
        return other_pairs(a)
    model_opts = {**MODEL, **(json.loads(a.set) if a.set else {})}
    info = train_run("pix2pix", "pix2pix-edges-mnist", "edges:mnist", model_opts,
                     budget=20.0 if a.quick else a.budget, lr=2e-4)
    model = load_run(ROOT / info["run"]).model
    test = load_data("edges:mnist", split="test")
    if a.quick:
        test = test.subset(1000)
    x, source, y = test.images(), test.sources(), test.y
    out = translate_all(model, source)
    clf = available_classifier("mnist")

    def figures(images: torch.Tensor) -> dict:
        return {"l1": round(float((images - x).abs().mean()), 4), "ssim": round(float(ssim(images, x).mean()), 4),
                **classifier_figures(clf, images, x, y)}

    result = {"pix2pix": figures(out), "edges (the source itself)": figures(source),
              "true images": {"accuracy": round(float((clf.predict(x).cpu() == y).float().mean()), 4)},
              "test_pairs": len(test), "model": model_opts, **info}
    result["target_met"] = result["pix2pix"]["accuracy"] >= 0.95
    if not a.no_write:
        path = ROOT / "docs" / "images" / "i2i_pix2pix_edges.png"
        save_grid(torch.cat([source[:12], out[:12], x[:12]]), path, nrow=12, scale=3)
        result["picture"] = str(path.relative_to(ROOT))
    print(json.dumps(result), flush=True)
    notes = ("pix2pix: U-Net generator (genlab's diffusion U-Net, widths 16/32/32, no attention, timestep fixed at 0), "
             "PatchGAN discriminator (16/32, batch norm), ns GAN loss + 100 x L1, Adam 2e-4 betas (0.5, 0.999), batch "
             "32, one thread, budget_clock cpu. Judge: the shipped genlab-mnist classifier.")
    if not a.no_write:
        write_result("i2i_pix2pix_quick" if a.quick else "i2i_pix2pix", result, notes=notes, threads=1,
                     headline={"figure": "target_met", "target": "classifier recognises the source digit in >= 95% "
                               "of outputs", "met": result["target_met"]})


def other_pairs(a) -> None:
    """pix2pix on `a.data` judged by L1, PSNR and SSIM against the truth, beside the source as the answer."""
    from genlab.data import load_data
    from genlab.eval.metrics import psnr, ssim
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    model_opts = {**MODEL, **(json.loads(a.set) if a.set else {})}
    slug = a.data.replace(":", "_")
    info = train_run("pix2pix", f"pix2pix-{slug}", a.data, model_opts, budget=20.0 if a.quick else a.budget, lr=2e-4)
    test = load_data(a.data, split="test")
    x, source = test.images(), test.sources()
    out = translate_all(load_run(ROOT / info["run"]).model, source)
    copied = source.expand(-1, x.shape[1], -1, -1) if source.shape[1] != x.shape[1] else source
    if copied.shape[-2:] != x.shape[-2:]:
        copied = torch.nn.functional.interpolate(copied, size=x.shape[-2:], mode="bicubic").clamp(0, 1)

    def figures(images: torch.Tensor) -> dict:
        return {"l1": round(float((images - x).abs().mean()), 4), "psnr": round(float(psnr(images, x).mean()), 3),
                "ssim": round(float(ssim(images, x).mean()), 4)}

    result = {"pix2pix": figures(out), "the source copied to every channel": figures(copied), "test_pairs": len(test),
              "data": a.data, "how": test.how, "model": model_opts, **info}
    if not a.no_write:
        path = ROOT / "docs" / "images" / f"i2i_pix2pix_{slug}.png"
        save_grid(torch.cat([copied[:12], out[:12], x[:12]]), path, nrow=12, scale=3)
        result["picture"] = str(path.relative_to(ROOT))
    print(json.dumps(result), flush=True)
    if not a.no_write:
        write_result(f"i2i_pix2pix_{slug}", result, threads=1,
                     notes="pix2pix as in i2i_pix2pix (U-Net 16/32/32, PatchGAN 16/32, ns + 100 x L1, Adam 2e-4, batch "
                           "32, one thread, budget_clock cpu); no target: a demonstration of the pair form.")


if __name__ == "__main__":
    main()
