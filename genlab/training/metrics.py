"""A run's metrics: metrics.jsonl (the record), metrics.csv (the same, for spreadsheets and pandas), and
TensorBoard event files under tensorboard/ when the run asks for them (--train.tensorboard).

metrics.jsonl holds one JSON record per line, each with the `step` it was logged at. The trainer appends
one line per record; a kill or a full disk in the middle of an append can leave a torn last line, which
readers drop with a warning (resume then rewrites the file without it). Any other line that is not a
record is an error naming the file and the line.

metrics.csv is derived from it: a header (step, then every key in the order it first appeared) and one row
per record, appended in one write; a record with a key the header lacks (a probe's first figure) rewrites
the file atomically from metrics.jsonl with the wider header, and so does a resume (no torn or stale rows).
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

from genlab.io import atomic_write_bytes

METRICS = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
TENSORBOARD = "tensorboard"  # the folder of TensorBoard event files in a run
TENSORBOARD_HINT = "pip install genlab[tensorboard]"


class MetricsError(ValueError):
    """metrics.jsonl cannot be read or written; the message names the file (and line) and what to do."""


def _record(line: str) -> dict[str, Any] | None:
    try:
        r = json.loads(line)
    except ValueError:
        return None
    return r if isinstance(r, dict) and isinstance(r.get("step"), int) else None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl (none when it is missing); a torn last line is dropped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as e:
        raise MetricsError(f"could not read {path}: {e}") from None
    numbered = [(i + 1, ln) for i, ln in enumerate(text.split("\n")) if ln.strip()]
    out = []
    for k, (number, line) in enumerate(numbered):
        record = _record(line)
        if record is None:
            # an append that a kill or a full disk cut short: the last line, without its newline (or zeros)
            torn = k == len(numbered) - 1 and (not text.endswith("\n") or not line.strip("\0 \t\r"))
            if torn:
                warnings.warn(f"{path}: dropped a torn last line ({number}: {line[:40]!r}...), left by an "
                              "interrupted write", RuntimeWarning, stacklevel=2)
                break
            raise MetricsError(f"{path}, line {number}, is not a metrics record (a JSON object with an integer "
                               f"'step'): {line[:60]!r}; fix or delete that line")
        out.append(record)
    return out


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as a line (one write call)."""
    try:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        raise MetricsError(f"could not write {path}: {e}; free space (or fix permissions) and resume the run "
                           "with --resume") from None


def trim_metrics(path: str | Path, step: int) -> None:
    """Keep only the records up to `step` (the checkpoint a resumed run continues from), and no torn line;
    metrics.csv beside it is rewritten from what is kept."""
    path = Path(path)
    if not path.exists():
        return
    records = [r for r in read_metrics(path) if r["step"] <= step]
    keep = [json.dumps(r) for r in records]
    atomic_write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())
    write_csv(path.with_name(METRICS_CSV), records)


# --- metrics.csv ------------------------------------------------------------------------------------
def _columns(records: list[dict[str, Any]]) -> list[str]:
    columns = ["step"]
    for r in records:
        columns += [k for k in r if k not in columns]
    return columns


def _rows(columns: list[str], records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for r in records:
        writer.writerow(["" if r.get(k) is None else r[k] if isinstance(r[k], (str, int, float))
                         else json.dumps(r[k]) for k in columns])
    return out.getvalue()


def write_csv(path: str | Path, records: list[dict[str, Any]]) -> None:
    """metrics.csv of `records`, written atomically: the header, then one row per record."""
    columns = _columns(records)
    atomic_write_bytes(Path(path), (",".join(columns) + "\n" + _rows(columns, records)).encode())


def csv_header(path: str | Path) -> list[str] | None:
    """The columns of a metrics.csv (None when it is missing or empty)."""
    try:
        with open(path, newline="") as f:
            first = f.readline()
    except FileNotFoundError:
        return None
    return next(csv.reader([first]), None) if first.endswith("\n") else None


def append_csv(path: str | Path, record: dict[str, Any], jsonl: str | Path) -> None:
    """Add `record` (already appended to `jsonl`) to metrics.csv: one row in one write when the header has
    its keys, else the whole file again from `jsonl`."""
    header = csv_header(path)
    try:
        if header is None or not set(record) <= set(header):
            write_csv(path, read_metrics(jsonl))
            return
        with open(path, "a", newline="") as f:
            f.write(_rows(header, [record]))
    except OSError as e:
        raise MetricsError(f"could not write {path}: {e}; free space (or fix permissions) and resume the run "
                           "with --resume") from None


def read_csv(path: str | Path) -> list[dict[str, str]]:
    """The rows of a metrics.csv as dicts of strings (for tests and quick looks; pandas reads it too)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- TensorBoard -------------------------------------------------------------------------------------
def check_tensorboard() -> None:
    """MetricsError in one line, before anything is trained, when the tensorboard package is missing."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise MetricsError(f"--train.tensorboard needs the tensorboard package, which is not installed: "
                           f"{TENSORBOARD_HINT}")


class TensorBoardLog:
    """Every number of each record as a TensorBoard scalar, in RUN/tensorboard/. A resumed run drops the
    events its checkpoint did not reach (purge_step), as metrics.jsonl drops their lines."""

    def __init__(self, run_dir: str | Path, purge_after: int = 0):
        check_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        purge = purge_after + 1 if purge_after else None  # events after the checkpoint are written again
        self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD), purge_step=purge)

    def add(self, record: dict[str, Any]) -> None:
        for k, v in record.items():
            if k not in ("step", "time") and isinstance(v, (int, float)) and not isinstance(v, bool):
                self.writer.add_scalar(k, v, record["step"], walltime=record.get("time"))

    def close(self) -> None:
        self.writer.close()


__all__ = ["METRICS", "METRICS_CSV", "TENSORBOARD", "MetricsError", "TensorBoardLog", "append_csv", "append_record",
           "check_tensorboard", "csv_header", "read_csv", "read_metrics", "trim_metrics", "write_csv"]
