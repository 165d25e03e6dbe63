"""Run folders are safe: genlab deletes only folders it made (the .genlab-run marker), never `.`, a parent
of the current folder or anything outside the runs folder; run names are one plain folder name; and one
process at a time trains a run (the lock names the holder)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import MARKER, RunError, check_run_name, load_run, train
from genlab.training.lock import LOCK, RunLock
from tests.child_env import ROOT, child_env
from tests.cli.conftest import TINY_VAE, cli
from tests.conftest import TINY, tiny_images


def config(steps=2) -> RunConfig:
    return RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"),
                     TrainConfig(steps=steps, batch_size=8, log_every=1, progress=False))


def user_files(folder: Path) -> dict[str, str]:
    """A user's project: files genlab must never touch, including ones a run folder also holds."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"notes.txt": "mine", "config.json": '{"mine": true}', "metrics.jsonl": "mine\n"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def intact(folder: Path, files: dict[str, str]) -> bool:
    return all((folder / k).read_text() == v for k, v in files.items())


@pytest.mark.parametrize("name", [".", "..", "../x", "a/b", "/tmp/x", "~", "a\\b", "", "x\ny"])
def test_run_names_are_one_plain_folder_name(name):
    with pytest.raises(RunError, match="invalid run name.*--name vae-mnist-2"):
        check_run_name(name)
    assert check_run_name("vae-mnist.2_b") == "vae-mnist.2_b"


@pytest.mark.parametrize("name", [".", "..", "../x", "/abs/x"])
def test_cli_refuses_names_outside_the_runs_folder_before_anything_happens(tmp_path, monkeypatch, capsys, name):
    project = tmp_path / "project"
    files = user_files(project)
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit) as e:
        cli("train", *TINY_VAE, "--runs-dir", ".", "--name", name, "--overwrite")
    err = capsys.readouterr().err
    assert e.value.code == 2 and "invalid run name" in err and len(err.strip().splitlines()) == 1
    assert intact(project, files) and sorted(p.name for p in project.iterdir()) == sorted(files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # nothing written next to it either


def test_overwrite_clears_only_a_folder_genlab_made(tmp_path):
    data = tiny_images(32)
    runs = tmp_path / "runs"
    # a folder the user made, holding the very files a run holds: never deleted, never written into
    files = user_files(runs / "mine")
    with pytest.raises(RunError, match=f"no {MARKER} marker.*rm -r"):
        train(config(), runs / "mine", data=data, overwrite=True, runs_dir=runs)
    assert intact(runs / "mine", files) and not (runs / "mine" / LOCK).exists()
    # a folder with other files only: a new run is not written into it
    (runs / "other").mkdir()
    (runs / "other" / "data.csv").write_text("1,2")
    with pytest.raises(RunError, match="files genlab did not make.*data.csv"):
        train(config(), runs / "other", data=data, runs_dir=runs)
    assert sorted(p.name for p in (runs / "other").iterdir()) == ["data.csv"]
    # a run genlab made: the marker holds a run id; overwrite replaces it (new id), resume keeps it
    train(config(), runs / "r", data=data, runs_dir=runs)
    first = json.loads((runs / "r" / MARKER).read_text())["run_id"]
    (runs / "r" / "stale.txt").write_text("x")
    train(config(), runs / "r", data=data, overwrite=True, runs_dir=runs)
    assert not (runs / "r" / "stale.txt").exists()
    second = json.loads((runs / "r" / MARKER).read_text())["run_id"]
    assert second != first
    train(config(3), runs / "r", data=data, resume=True, runs_dir=runs)
    assert json.loads((runs / "r" / MARKER).read_text())["run_id"] == second and load_run(runs / "r").step == 3


def test_runs_of_older_versions_are_resumable_but_not_overwritten(tmp_path):
    data = tiny_images(32)
    train(config(), tmp_path / "old", data=data)
    (tmp_path / "old" / MARKER).unlink()  # as genlab 0.2 left it
    with pytest.raises(RunError, match=r"no \.genlab-run marker.*older genlab.*rm -r"):
        train(config(), tmp_path / "old", data=data, overwrite=True)
    assert load_run(tmp_path / "old").step == 2
    assert train(config(3), tmp_path / "old", data=data, resume=True).step == 3


def test_overwrite_never_clears_the_current_folder_a_parent_or_the_runs_folder(tmp_path, monkeypatch):
    data = tiny_images(32)
    runs = tmp_path / "runs"
    train(config(), runs / "r", data=data, runs_dir=runs)
    (runs / "r" / "sub").mkdir()
    monkeypatch.chdir(runs / "r" / "sub")  # working inside the run: it is a parent of the current folder
    with pytest.raises(RunError, match="current folder or one of its parents"):
        train(config(), runs / "r", data=data, overwrite=True, runs_dir=runs)
    monkeypatch.chdir(tmp_path)
    (runs / MARKER).write_text("{}")  # even a marker does not make the runs folder itself removable
    with pytest.raises(RunError, match="not a run folder inside"):
        train(config(), runs, data=data, overwrite=True, runs_dir=runs)
    # a run folder that is a link to elsewhere lies outside the runs folder
    train(config(), tmp_path / "elsewhere", data=data)
    (runs / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunError, match="not a run folder inside"):
        train(config(), runs / "link", data=data, overwrite=True, runs_dir=runs)
    assert load_run(tmp_path / "elsewhere").step == 2 and load_run(runs / "r").step == 2


def test_a_second_process_on_a_locked_run_gets_one_line_naming_the_holder(tmp_path):
    data = tiny_images(32)
    train(config(), tmp_path / "r", data=data)
    metrics = (tmp_path / "r" / "metrics.jsonl").read_text()
    with RunLock(tmp_path / "r"):  # another process training it (flock locks per open file: same effect)
        for options in ({"resume": True}, {"overwrite": True}):
            with pytest.raises(RunError, match=rf"in use by another genlab process \(train pid {os.getpid()} on "
                                               r".*, started .*\); wait for it"):
                train(config(3), tmp_path / "r", data=data, **options)
        assert (tmp_path / "r" / "metrics.jsonl").read_text() == metrics and load_run(tmp_path / "r").step == 2
    assert train(config(3), tmp_path / "r", data=data, resume=True).step == 3  # released: works again


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    code = ("import sys, time; from genlab.training.lock import RunLock; l = RunLock(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                            env=child_env())
    try:
        assert proc.stdout.readline().strip() == b"locked"
        with pytest.raises(RuntimeError, match=f"pid {proc.pid} on"):
            RunLock(tmp_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 10
    while True:  # the kernel drops a dead process's locks (no stale pid file to clean up)
        try:
            RunLock(tmp_path).release()
            break
        except RuntimeError:
            assert time.time() < deadline
            time.sleep(0.05)


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path):
    data = tiny_images(32)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / MARKER).write_text("{}")  # killed between the marker and config.json
    assert train(config(2), tmp_path / "r", data=data, resume=True).step == 2
    (tmp_path / "r" / "checkpoints").rename(tmp_path / "gone")  # killed after 2 records, before any checkpoint
    assert train(config(3), tmp_path / "r", data=data, resume=True).step == 3
    steps = [json.loads(x)["step"] for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # the records of the lost steps are not kept twice
