"""`genlab demo` end to end: wall time and peak memory of the README's main job.

Runs the installed `genlab demo` in a child process (as a user would) and reads its peak resident
memory from the kernel (ru_maxrss of the finished child); records the load average too, since on a
shared machine the wall time depends on it.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/genlab-bench-demo")
    shutil.rmtree(out, ignore_errors=True)
    genlab = Path(sys.executable).with_name("genlab")
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([str(genlab), "demo", "--out", str(out)], cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"genlab demo failed:\n{proc.stderr[-3000:]}")
    figures = {"demo wall time (s)": round(wall, 1), "within 2 minutes": wall <= 120,
               "peak memory (MiB)": round(usage.ru_maxrss / 1024, 1),
               "CPU time, user + system (s)": round(usage.ru_utime + usage.ru_stime, 1),
               "report written": (out / "report.html").exists(),
               "load average before (1, 5, 15 min)": [round(x, 2) for x in load_before],
               "load average after (1, 5, 15 min)": [round(x, 2) for x in os.getloadavg()]}
    write_result("demo", figures, notes="`genlab demo` (90 s training budget, MNIST) in a child process; "
                 "wall time includes start-up, data loading, training, evaluation and the report. On a busy "
                 "machine (load average above the 2 cores) the wall time grows with the load.")
