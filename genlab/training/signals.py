"""Stopping a training run: SIGTERM and a first Ctrl-C (SIGINT) ask for a stop at the next step boundary
(the trainer saves a checkpoint there, so a resume continues bit-exactly); a second Ctrl-C aborts at
once without saving (the previous checkpoint stays intact)."""

from __future__ import annotations

import os
import signal
from typing import Any

NOTICE = {signal.SIGINT: b"\ngenlab: Ctrl-C: stopping after this step and saving a checkpoint "
                         b"(Ctrl-C again to abort without saving)\n",
          signal.SIGTERM: b"\ngenlab: SIGTERM: stopping after this step and saving a checkpoint\n"}


class StopSignals:
    """Installs the handlers (in the main thread only; elsewhere it is inert) until `restore`.

    `signum` is the first signal received, or None."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict[int, Any] = {}
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[s] = signal.signal(s, self._handler)
            except ValueError:  # not the main thread: signals are not delivered here anyway
                pass

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:  # the second Ctrl-C: give up at once, save nothing
                raise KeyboardInterrupt
            return  # a repeated SIGTERM: already stopping
        self.signum = signum
        try:  # os.write, not print: a handler may run in the middle of a buffered write to stderr
            os.write(2, NOTICE[signum])
        except OSError:
            pass

    def restore(self) -> None:
        for s, old in self._old.items():
            signal.signal(s, signal.SIG_DFL if old is None else old)  # None: set outside Python
        self._old = {}


__all__ = ["StopSignals"]
