"""Background jobs of the web app: a slow sampler's images (or a text's characters) appear as they are drawn,
and the page polls `GET /api/jobs/ID` for what is new and for the progress. `DELETE /api/jobs/ID` cancels a
job: it stops at the model's next network evaluation (or next image), keeping what it has made.

A job runs on a small thread pool; the model's own lock (one per run) makes requests to one model wait for
each other, while different runs work side by side. At most MAX_ACTIVE jobs wait or run at once (more get
HTTP 429), and only the last MAX_KEPT finished jobs are kept.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

MAX_ACTIVE = 8
MAX_KEPT = 64
WORKERS = 2


class Busy(RuntimeError):
    """Too many jobs wait already; the message says to try again."""


class Cancelled(Exception):
    """Raised inside a job's work when the job has been cancelled (not an error: the job ends cancelled)."""


@dataclass
class Job:
    """What one request asked for and what has been made of it so far.

    Args:
        total: the items to make (images; for text, the tokens to draw).
        items: one dict per finished image ({"image": data URL, "label": int | None, "seed": int}).
        text: the text so far (text jobs).
        calls: network evaluations of the current item (progress within a slow sampler).
        per_item: network evaluations per item, once the first item is done (or the expected number).
    """

    id: str
    kind: str
    run: str
    total: int
    items: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    calls: int = 0
    per_item: int | None = None
    error: str | None = None
    finished: bool = False
    cancelled: bool = False
    started: float = field(default_factory=time.monotonic)
    seconds: float | None = None

    def check(self) -> None:
        """Cancelled when the job has been cancelled: work calls this between (and within) items."""
        if self.cancelled:
            raise Cancelled(self.id)

    def progress(self) -> float:
        """The fraction done, in [0, 1]: finished items plus the part of the current one."""
        if self.finished:
            return 1.0
        done = len(self.items) if self.kind != "text" else len(self.text)
        part = min(self.calls / self.per_item, 0.99) if self.per_item else 0.0
        return min((done + part) / max(self.total, 1), 0.99)

    def view(self, since: int = 0) -> dict[str, Any]:
        """The job as JSON: the items from index `since` on (what the page has not shown yet)."""
        return {"id": self.id, "kind": self.kind, "run": self.run, "total": self.total, "done": len(self.items),
                "items": self.items[since:], "text": self.text, "progress": round(self.progress(), 4),
                "calls": self.calls, "error": self.error, "finished": self.finished, "cancelled": self.cancelled,
                "seconds": self.seconds}


class Jobs:
    """The jobs of one app: submit work, look jobs up by id."""

    def __init__(self, workers: int = WORKERS):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genlab-serve")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, kind: str, run: str, total: int, work: Callable[[Job], None]) -> Job:
        """Start `work(job)` in the background; Busy when MAX_ACTIVE jobs are unfinished already."""
        with self._lock:
            active = sum(not j.finished for j in self._jobs.values())
            if active >= MAX_ACTIVE:
                raise Busy(f"{active} requests are still running; wait for them and try again")
            job = Job(uuid.uuid4().hex, kind, run, total)
            self._jobs[job.id] = job
            finished = [k for k, j in self._jobs.items() if j.finished]
            for k in finished[: max(0, len(self._jobs) - MAX_KEPT)]:
                del self._jobs[k]
        self._pool.submit(self._run, job, work)
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[Job], None]) -> None:
        try:
            job.check()  # cancelled while it waited for a worker
            work(job)
        except Cancelled:
            pass  # what was made so far stays; `cancelled` says why the job ended early
        except (ValueError, KeyError, IndexError, TypeError) as e:  # the request's fault: its message
            job.error = one_line(e)
        except Exception as e:  # noqa: BLE001 - a job must end with a message, whatever went wrong
            job.error = f"{type(e).__name__}: {one_line(e)}"
        finally:
            job.seconds = round(time.monotonic() - job.started, 3)
            job.finished = True

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask job `job_id` to stop (a finished job is left as it is); None when there is no such job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not job.finished:
                job.cancelled = True
            return job

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def one_line(e: BaseException, limit: int = 500) -> str:
    """The message of `e` on one line, cut to `limit` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, KeyError) and text.startswith("'"):
        text = text.strip("'")
    return text if len(text) <= limit else text[: limit - 3] + "..."


__all__ = ["MAX_ACTIVE", "MAX_KEPT", "Busy", "Cancelled", "Job", "Jobs", "one_line"]
