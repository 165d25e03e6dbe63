"""The MNIST leaderboard of every family genlab has, produced by one `genlab bench` command, recorded for
docs/BENCHMARKS.md (result `bench_leaderboard`), with its contact sheet and quality-vs-time plot copied to
docs/images/eval/.

    .venv/bin/python benchmarks/bench_leaderboard.py --budget 2m            # every family, 2 CPU-min each
    .venv/bin/python benchmarks/bench_leaderboard.py --budget 10m --seeds 0 1 2
    .venv/bin/python benchmarks/bench_leaderboard.py --families ae,vae --budget 30s --n 2000 --no-write

Everything after the script's own options is the `genlab bench` command line; the exact command is
recorded.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on the CPU budget

import argparse
import shutil
import sys
import time
from pathlib import Path

from _common import ROOT, write_result

IMAGES = ROOT / "docs" / "images" / "eval"


def family_line(r: dict) -> str:
    """One leaderboard row as text, for the two-column figure table of docs/BENCHMARKS.md."""
    from genlab.eval.report import COLUMNS, fmt

    m = r.get("metrics", {})
    parts = [f"{COLUMNS[k][0]} {fmt(m[k], k)}" for k in ("fid", "kid", "precision", "recall", "density", "coverage",
                                                         "inception_score", "class_accuracy", "mse", "bits_per_dim")
             if k in m]
    runs = r.get("runs", [])
    if runs:
        parts.append(f"{'/'.join(str(x['steps']) for x in runs)} steps in "
                     f"{'/'.join(str(round(x['train_cpu_s'])) for x in runs)} CPU-s")
    if r.get("notes"):
        parts.append("; ".join(r["notes"]))
    if r["status"] == "failed":
        parts.insert(0, "FAILED")
    return "; ".join(parts)


def record(a, board: dict, md: str, wall: float | None) -> None:
    """Write benchmarks/results/<name>.json (figures: the headline and one line per family, best first) and
    copy the pictures to docs/images/eval/."""
    import json

    from genlab.eval.leaderboard import _sort_key

    out = Path(a.out)
    # the pictures' names: mnist_... for the main leaderboard, mnist_flow_... for --name bench_leaderboard_flow
    stem = "_".join([a.data, *([a.name.removeprefix("bench_leaderboard_")] if a.name != "bench_leaderboard" else [])])
    IMAGES.mkdir(parents=True, exist_ok=True)
    for f in ("contact_sheet.png", "quality_vs_time.png"):
        if (out / f).exists():
            shutil.copy(out / f, IMAGES / f"{stem}_{f}")
    (IMAGES / f"{stem}_leaderboard.md").write_text(md)
    rows = sorted(board["rows"], key=_sort_key)
    ok = [r for r in rows if r["status"] == "ok"]
    p = board["protocol"]
    figures = {"best family by FID": ok[0]["family"] if ok else None,
               f"best FID ({p['features']})": round(ok[0]["metrics"]["fid"]["mean"], 3) if ok else None,
               "families": len(rows) - 1, "failed": [r["family"] for r in rows if r["status"] == "failed"]}
    rank = 0
    for r in rows:
        rank += r["status"] == "ok"
        label = f"{rank}. {r['family']}" if r["status"] == "ok" else r["family"]
        figures[label] = family_line(r)
    figures.update({"genlab command": board.get("command"),
                    "wall minutes": None if wall is None else round(wall / 60, 1),
                    "leaderboard (markdown)": f"docs/images/eval/{stem}_leaderboard.md",
                    "contact sheet": f"docs/images/eval/{stem}_contact_sheet.png",
                    "quality vs training time": f"docs/images/eval/{stem}_quality_vs_time.png"})
    if not a.record_only:  # recorded later, the load would be the recorder's
        figures["load average at end (1, 5, 15 min)"] = [round(x, 2) for x in os.getloadavg()]
    budget = p.get("extra", {}).get("budget_cpu_s", 0)
    notes = (f"One `genlab bench` command (above) on a 2-core machine shared with other jobs: {budget:.0f} s of "
             f"process CPU time per family and seed, OMP_WAIT_POLICY=PASSIVE, torch threads {a.threads} in all "
             f"({a.jobs} families at a time, each in its own process), every family "
             f"with its preset's options (--preset cpu: genlab/models/recipes.py); {p['n_fake']} samples per "
             "family (fewer where noted) against the "
             f"{p['n_real']} MNIST test images, {p['features']} features (not comparable with Inception FID). The "
             "'real data' row scores training images like a model. Full table: "
             f"docs/images/eval/{stem}_leaderboard.md.")
    path = write_result(a.name, figures, notes=notes, threads=a.threads)
    raw = json.loads(path.read_text())
    raw["markdown"] = md  # the full table, for renderers that embed it
    path.write_text(json.dumps(raw, indent=2) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="mnist")
    p.add_argument("--families", default="all")
    p.add_argument("--budget", default="2m")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--n-curve", type=int, default=2000)
    p.add_argument("--curve-points", type=int, default=4)
    p.add_argument("--sample-cap", type=float, default=600.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", default="runs/bench-mnist")
    p.add_argument("--name", default="bench_leaderboard")
    p.add_argument("--train-option", nargs="+", action="extend", default=[], metavar="FAMILY.KEY=VALUE",
                   help="passed to `genlab bench --train-option` (a recipe probe)")
    p.add_argument("--option", nargs="+", action="extend", default=[], metavar="FAMILY.KEY=VALUE",
                   help="passed to `genlab bench --option` (model options of a recipe probe)")
    p.add_argument("--record-only", action="store_true",
                   help="do not run the bench: record the leaderboard already in --out")
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    import json

    from genlab.cli import main as genlab

    args = ["bench", "--data", a.data, "--families", a.families, "--budget", a.budget, "--seeds",
            *map(str, a.seeds), "--n", str(a.n), "--n-curve", str(a.n_curve), "--curve-points", str(a.curve_points),
            "--sample-cap", str(a.sample_cap), "--threads", str(a.threads), "--jobs", str(a.jobs), "--out", a.out]
    if a.train_option:
        args += ["--train-option", *a.train_option]
    if a.option:
        args += ["--option", *a.option]
    wall = None
    if not a.record_only:
        t0 = time.perf_counter()
        genlab(args)
        wall = time.perf_counter() - t0
    out = Path(a.out)
    board = json.loads((out / "leaderboard.json").read_text())
    if wall is None:
        wall = board["protocol"].get("wall_time_s")
    md = (out / "leaderboard.md").read_text()
    print(md)
    if not a.no_write:
        if a.record_only:  # the recorded command is the one that produced the leaderboard
            sys.argv = [x for x in sys.argv if x != "--record-only"]
        record(a, board, md, wall)


if __name__ == "__main__":
    main()
