"""metrics.jsonl: a torn last line (a kill or a full disk mid-write) is dropped with a warning naming the
file and never blocks a resume; any other bad line is one error naming the file and the line."""

from __future__ import annotations

import json

import pytest

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import train
from genlab.training.metrics import MetricsError, append_record, read_metrics, trim_metrics
from tests.conftest import TINY, tiny_images


def config(steps: int) -> RunConfig:
    return RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"),
                     TrainConfig(steps=steps, batch_size=8, log_every=1, progress=False))


def test_a_torn_last_line_is_dropped_with_a_warning_and_resume_goes_on(tmp_path):
    data = tiny_images(32)
    train(config(3), tmp_path / "r", data=data)
    path = tmp_path / "r" / "metrics.jsonl"
    good = path.read_text()
    with open(path, "a") as f:
        f.write('{"step": 4, "loss": 12.3')  # the process died in the middle of this append
    with pytest.warns(RuntimeWarning, match=r"metrics.jsonl: dropped a torn last line \(4"):
        assert [r["step"] for r in read_metrics(path)] == [1, 2, 3]
    with pytest.warns(RuntimeWarning, match="torn last line"):
        train(config(5), tmp_path / "r", data=data, resume=True)
    lines = path.read_text().splitlines()
    assert path.read_text().startswith(good) and [json.loads(x)["step"] for x in lines] == [1, 2, 3, 4, 5]


def test_zeros_left_by_a_crash_count_as_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(b'{"step": 1}\n' + b"\0" * 40 + b"\n")
    with pytest.warns(RuntimeWarning, match="torn"):
        assert read_metrics(path) == [{"step": 1}]


@pytest.mark.parametrize("bad", ['{"step": 2, "lo', "not json", '{"loss": 1.0}', '[1, 2]', '{"step": "2"}'])
def test_any_other_bad_line_is_an_error_naming_the_file_and_line(tmp_path, bad):
    path = tmp_path / "metrics.jsonl"
    path.write_text(f'{{"step": 1}}\n{bad}\n{{"step": 3}}\n')
    with pytest.raises(MetricsError, match=r"metrics.jsonl, line 2, is not a metrics record") as e:
        read_metrics(path)
    assert "\n" not in str(e.value)
    with pytest.raises(MetricsError, match="line 2"):
        trim_metrics(path, 3)
    path.write_text(f'{{"step": 1}}\n{bad}\n')  # a last line that ends in a newline was not torn by a kill
    with pytest.raises(MetricsError, match="line 2"):
        read_metrics(path)


def test_a_failed_append_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "metrics.jsonl").mkdir()  # not writable as a file, like a full or read-only disk
    with pytest.raises(MetricsError, match=r"could not write .*metrics.jsonl: .*--resume") as e:
        append_record(tmp_path / "metrics.jsonl", {"step": 1})
    assert "\n" not in str(e.value)


# --- metrics.csv and TensorBoard ----------------------------------------------------------------------
def test_metrics_csv_has_a_header_and_one_row_per_record(tmp_path):
    from genlab.training.metrics import read_csv

    train(config(4), tmp_path / "r", data=tiny_images(32))
    records = read_metrics(tmp_path / "r" / "metrics.jsonl")
    text = (tmp_path / "r" / "metrics.csv").read_text()
    header = text.splitlines()[0].split(",")
    assert header[0] == "step" and {"loss", "lr", "img_per_s", "time"} <= set(header)
    rows = read_csv(tmp_path / "r" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and len(text.splitlines()) == 1 + len(records)
    assert [float(r["loss"]) for r in rows] == [r["loss"] for r in records]  # the same numbers, exactly


def test_metrics_csv_survives_a_crash_and_a_resume(tmp_path):
    from genlab.training.metrics import read_csv

    data = tiny_images(32)
    full = train(config(6), tmp_path / "full", data=data)
    run = tmp_path / "r"
    train(config(3), run, data=data)
    with open(run / "metrics.csv", "a") as f:
        f.write("4,12.")  # the process died in the middle of an append (a row of a step never checkpointed)
    train(config(6), run, data=data, resume=True)
    rows = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]  # no torn row, no step twice
    assert [float(r["loss"]) for r in rows] == [r["loss"] for r in full.history]  # as the uninterrupted run


def test_a_new_key_widens_the_csv_header_and_keeps_every_row(tmp_path):
    from genlab.training.metrics import append_csv, read_csv

    jsonl, path = tmp_path / "metrics.jsonl", tmp_path / "metrics.csv"
    for record in ({"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "coverage": 0.9, "watchdog": "ok, fine"},
                   {"step": 3, "loss": 1.0}):
        append_record(jsonl, record)
        append_csv(path, record, jsonl)
    assert path.read_text().splitlines()[0] == "step,loss,coverage,watchdog"
    assert read_csv(path) == [{"step": "1", "loss": "2.0", "coverage": "", "watchdog": ""},
                              {"step": "2", "loss": "1.5", "coverage": "0.9", "watchdog": "ok, fine"},
                              {"step": "3", "loss": "1.0", "coverage": "", "watchdog": ""}]


def test_tensorboard_events_are_written_when_asked(tmp_path):
    pytest.importorskip("tensorboard")  # the [tensorboard] extra; `make test` installs it (the dev target)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    c = config(4)
    c = RunConfig(c.family, c.model, c.data, TrainConfig(**{**c.train.__dict__, "tensorboard": True}))
    train(c, tmp_path / "r", data=tiny_images(32))
    folder = tmp_path / "r" / "tensorboard"
    assert list(folder.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(folder))
    events.Reload()
    loss = events.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    records = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in records], rel=1e-6)
    assert "lr" in events.Tags()["scalars"] and "time" not in events.Tags()["scalars"]
    assert not (tmp_path / "plain").exists()
    train(config(2), tmp_path / "plain", data=tiny_images(32))
    assert not (tmp_path / "plain" / "tensorboard").exists()  # off by default


def test_tensorboard_missing_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    c = config(2)
    c = RunConfig(c.family, c.model, c.data, TrainConfig(**{**c.train.__dict__, "tensorboard": True}))
    with pytest.raises(MetricsError) as e:
        train(c, tmp_path / "r", data=tiny_images(32))
    assert "\n" not in str(e.value) and "pip install genlab[tensorboard]" in str(e.value)
    assert not (tmp_path / "r").exists()  # refused before the run folder was made
