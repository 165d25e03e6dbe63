"""The genlab feature classifiers: test accuracy and training cost (targets: MNIST >= 99.3%, Fashion-MNIST
>= 91%), plus the sanity check of the classifier FID (train vs test of one dataset small, across datasets
large).

Builds each classifier with its fixed recipe when it is not cached yet (`--rebuild` forces it; the
training cost is then measured here), and records its meta (accuracy, recipe, hash, CPU seconds).

    .venv/bin/python benchmarks/eval_classifiers.py                 # mnist, fashion-mnist, digits
    .venv/bin/python benchmarks/eval_classifiers.py --datasets digits --no-write
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse

import torch
from _common import write_result

TARGETS = {"mnist": 0.993, "fashion-mnist": 0.91}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist", "digits"])
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--n", type=int, default=10000, help="images per side for the FID sanity check")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(2)
    from genlab.data import load_data
    from genlab.eval import metrics as M
    from genlab.eval.classifier import load_classifier
    from genlab.eval.features import real_subset

    figures = {}
    for name in a.datasets:
        clf = load_classifier(name, rebuild=a.rebuild, progress=False)
        m = clf.meta
        fig = {"test accuracy": round(m["test_accuracy"], 4), "train accuracy": round(m["train_accuracy"], 4),
               "target": TARGETS.get(name), "met": None if name not in TARGETS else m["test_accuracy"] >= TARGETS[name],
               "training CPU-s": m.get("train_cpu_seconds"), "training wall-s": m.get("train_seconds"),
               "hash": clf.hash, "feature dim": clf.dim, "recipe": m["recipe"], "built": m.get("created"),
               "parameters": sum(p.numel() for p in clf.net.parameters())}
        # Sanity: FID(train subset, test) small; FID of another dataset large (same shape only).
        train, test = load_data(name, split="train"), load_data(name, split="test")
        n = min(a.n, len(test))
        f_test = clf.features(test.images(real_subset(len(test), n, 0)))
        f_train = clf.features(train.images(real_subset(len(train), n, 1)))
        fig["FID(train, test)"] = round(M.fid(f_train, f_test), 3)
        for other in ("mnist", "fashion-mnist"):
            if other != name and name in ("mnist", "fashion-mnist"):
                o = load_data(other, split="test")
                f_other = clf.features(o.images(real_subset(len(o), n, 2)))
                fig[f"FID(test, {other} test)"] = round(M.fid(f_test, f_other), 1)
        figures[name] = fig
        print(name, fig, flush=True)
    if not a.no_write:
        notes = ("Each classifier is trained once by its fixed recipe (genlab/eval/classifier.py, 1 torch thread) and "
                 "cached; CPU/wall seconds are those of that build, on a 2-core machine shared with other jobs. "
                 f"FID sanity check with {a.n} images per side, the classifier's own features.")
        write_result("eval_classifiers", figures, notes=notes, threads=2)


if __name__ == "__main__":
    main()
