"""Core v2 (issue 11) changed no speed: the quick speed benchmarks run on the code before and after it,
alternating, on one machine, and their figures side by side.

The benchmarks: vae_vs_pythae.py --quick --no-bf16 (the headline is genlab/pythae CPU time per step,
interleaved), diffusion_speed.py --reps 6 (seconds per training step of the 1.16M-parameter U-Net,
genlab and diffusers), eval_speed.py --n 2000 --reps 1 (warm FID/KID/PR/IS evaluation seconds). Each
runs in a subprocess with PYTHONPATH pointing at the tree under test; the tree "before" is a checkout of
the commit before core v2 (b4f813f), e.g. `git worktree add --detach /tmp/genlab-before b4f813f`.
Peers (pythae, diffusers) must be importable: pass their folder with --deps.

    .venv/bin/python benchmarks/core_v2_before_after.py --before /tmp/genlab-before --deps /tmp/benchdeps
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(tree: Path, deps: str, args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(tree), deps) if p)}
    out = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, check=True)
    return out.stdout


def vae(tree: Path, deps: str) -> dict[str, float]:
    result = tree / "benchmarks" / "results" / "vae_vs_pythae.json"
    keep = Path(tempfile.mkdtemp()) / "keep.json"
    shutil.copy(result, keep)  # the script always writes its result: keep the recorded one
    try:
        run(tree, deps, ["benchmarks/vae_vs_pythae.py", "--quick", "--no-bf16"])
        f = json.loads(result.read_text())["figures"]
    finally:
        shutil.copy(keep, result)
    return {"genlab/pythae CPU time": f["ratio genlab / pythae, interleaved steps, CPU time (headline)"],
            "genlab CPU-ms/step": f["interleaved CPU-ms per step (genlab, pythae, genlab + fused Adam)"][0]}


def diffusion(tree: Path, deps: str) -> dict[str, float]:
    text = run(tree, deps, ["benchmarks/diffusion_speed.py", "--reps", "6", "--no-write"])
    j = json.loads(text[text.index("{\n"):])
    return {"genlab s/step": j["s_per_step_genlab"], "diffusers/genlab s/step":
            round(j["s_per_step_diffusers"] / j["s_per_step_genlab"], 3)}


def evaluation(tree: Path, deps: str) -> dict[str, float]:
    text = run(tree, "", ["benchmarks/eval_speed.py", "--n", "2000", "--reps", "1", "--no-write"])
    reps = json.loads(re.search(r"per-rep seconds: (\{.*\})", text).group(1).replace("'", '"'))
    return {"eval warm s": reps["warm"][0], "features s": reps["features_10k"][0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", type=Path, required=True, help="a checkout of the commit before core v2")
    p.add_argument("--after", type=Path, default=ROOT)
    p.add_argument("--deps", default="", help="a folder holding pythae and diffusers, if not installed")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    rows: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name, tree in (("before", args.before), ("after", args.after)):
            row = {**vae(tree, args.deps), **diffusion(tree, args.deps), **evaluation(tree, args.deps)}
            rows[name].append(row)
            print(f"round {r + 1} {name}: {row}", flush=True)
    figures: dict[str, object] = {}
    for key in rows["before"][0]:
        for name in ("before", "after"):
            values = [row[key] for row in rows[name]]
            figures[f"{key}, {name} core v2 (median; rounds)"] = [round(statistics.median(values), 4), values]
    write_result("core_v2_before_after", figures, notes=(
        f"{args.rounds} alternating rounds of the quick speed benchmarks on the code before core v2 "
        f"({args.before}) and after ({args.after}), one machine; medians and every round."))


if __name__ == "__main__":
    main()
