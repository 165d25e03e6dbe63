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
    a = p.parse_args(argv)
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


if __name__ == "__main__":
    main()
