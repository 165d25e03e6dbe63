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
