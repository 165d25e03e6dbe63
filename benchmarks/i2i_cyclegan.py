"""CycleGAN between MNIST digits written thin and thick (unpaired): cycle error, FID, and what the mapping learned.

Domains (genlab/data/pairs.py): A = thin:mnist (strokes eroded by a 2x2 min filter), B = thick:mnist (dilated by a
2x2 max filter); `--data thin:mnist --data-b thick:mnist` keeps the even training images for A and the odd ones
for B, so the model never sees one digit in both domains. Train `cyclegan` for `--budget` CPU-seconds, then on the
10,000 test images measure:
    cycle error       mean |F(G(a)) - a| and |G(F(b)) - b| (pixels in [0, 1])
    FID A -> B        of G(a) against thick test images (genlab-mnist classifier features); with, for scale, the
                      FID of the untranslated a (thin) and of thick images against themselves (0)
    digit kept        the classifier's accuracy on G(a) against the labels of a
    ink               mean pixel value of a, G(a) and b (does the mapping thicken strokes?)
    L1 to the truth   |G(a) - thick(a)|: the true thick version of each test digit, a pair the model never saw
Picture: docs/images/i2i_cyclegan.png (rows: a, G(a), F(G(a)), b, F(b), G(F(b))).

    .venv/bin/python benchmarks/i2i_cyclegan.py             # 600 CPU-s
    .venv/bin/python benchmarks/i2i_cyclegan.py --quick --no-write
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json

import torch
from _common import ROOT, write_result
from i2i_common import classifier_figures, train_run, translate_all

MODEL = {"channels": [16, 32], "d_channels": [16, 32]}


def main(argv=None) -> None:
    from genlab.data import load_data
    from genlab.eval.classifier import available_classifier
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=600.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--set", default="", help="JSON of cyclegan options replacing MODEL's")
    a = p.parse_args(argv)
    model_opts = {**MODEL, **(json.loads(a.set) if a.set else {})}
    info = train_run("cyclegan", "cyclegan-thin-thick", "thin:mnist", model_opts, data_b="thick:mnist",
                     budget=min(a.budget, 20.0) if a.quick else a.budget, lr=2e-4, batch_size=a.batch_size)
    model = load_run(ROOT / info["run"]).model
    thin, thick = load_data("thin:mnist", split="test"), load_data("thick:mnist", split="test")
    n = 1000 if a.quick else len(thin)
    xa, xb, y = thin.images(slice(0, n)), thick.images(slice(0, n)), thin.y[:n]
    ab = translate_all(model, xa, direction="ab")
    ba = translate_all(model, xb, direction="ba")
    aba = translate_all(model, ab, direction="ba")
    bab = translate_all(model, ba, direction="ab")
    clf = available_classifier("mnist")
    result = {
        "cycle_error_a": round(float((aba - xa).abs().mean()), 4),
        "cycle_error_b": round(float((bab - xb).abs().mean()), 4),
        "A->B (G(a) against thick test images)": classifier_figures(clf, ab, xb, y),
        "thin a untranslated, against thick test images": classifier_figures(clf, xa, xb, y),
        "B->A (F(b) against thin test images)": classifier_figures(clf, ba, xa, y),
        "ink (mean pixel)": {"a thin": round(float(xa.mean()), 4), "G(a)": round(float(ab.mean()), 4),
                             "b thick": round(float(xb.mean()), 4), "F(b)": round(float(ba.mean()), 4)},
        "L1 of G(a) to the true thick digit": round(float((ab - xb).abs().mean()), 4),
        "L1 of a (thin) to the true thick digit": round(float((xa - xb).abs().mean()), 4),
        "test_images": n, "model": model_opts, "batch_size": a.batch_size, **info,
    }
    if not a.no_write:
        path = ROOT / "docs" / "images" / "i2i_cyclegan.png"
        k = 12
        save_grid(torch.cat([xa[:k], ab[:k], aba[:k], xb[:k], ba[:k], bab[:k]]), path, nrow=k, scale=3)
        result["picture"] = str(path.relative_to(ROOT))
    print(json.dumps(result), flush=True)
    notes = ("cyclegan: two U-Net generators (genlab's diffusion U-Net, widths 16/32, no attention, timestep fixed "
             "at 0), two PatchGANs (16/32), ns GAN loss, cycle weight 10, identity weight 5, Adam 2e-4 betas "
             "(0.5, 0.999), one thread, budget_clock cpu. Test images: G(a) compared with thick(a) uses the paired "
             "truth only for evaluation.")
    if not a.no_write:
        write_result("i2i_cyclegan_quick" if a.quick else "i2i_cyclegan", result, notes=notes, threads=1,
                     headline={"figure": "cycle_error_a", "target": "cycle error, FID of translations and a picture "
                               "(no numeric target)", "met": None})


if __name__ == "__main__":
    main()
