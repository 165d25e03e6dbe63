"""keep_freed_memory: a big tensor made again and again reuses freed memory instead of faulting in fresh pages; the
environment can turn it off. Each case runs in a child process: the setting lasts for the process."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from tests.child_env import ROOT, child_env

CHILD = """
import json, resource, sys
from genlab.training.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
import torch
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # the heap grows for the first few (alignment padding splits the freed blocks), then stops
    torch.ones(16 << 20).sum()
before = faults()
for _ in range(5):
    torch.ones(16 << 20).sum()  # 64 MB made and freed
print(json.dumps({"kept": kept, "faults": faults() - before}))
"""


def child(mode: str, **env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, env=child_env(**env), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or not platform.libc_ver()[0].startswith("glibc"),
                    reason="mallopt's parameters are glibc's")
def test_a_big_tensor_made_again_reuses_memory_instead_of_new_pages():
    default, kept = child("default"), child("keep")
    assert kept["kept"] is True
    assert default["faults"] > 5 * 16_000 * 0.9  # glibc's default: 64 MB = 16,384 pages faulted in each time
    assert kept["faults"] < default["faults"] / 4  # reused: the pages are already there


def test_the_environment_can_turn_it_off():
    assert child("keep", GENLAB_KEEP_FREED_MEMORY="0")["kept"] is False
    assert child("keep", MALLOC_TRIM_THRESHOLD_="1000000")["kept"] is False  # the user's own malloc tuning wins
