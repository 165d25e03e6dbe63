"""Progress bars (tqdm) for long work, and the messages printed while they are shown.

Models never draw: their loops call a progress hook `progress(stage, done, total)` (genlab/models/base.py,
`ProgressHook`). `Bars` is that hook drawn as tqdm bars, one per stage, nested in the order the stages
first report (a sample's batches above each batch's denoising steps). Bars are shown only on a terminal,
only by process 0 of a torchrun job (RANK), and never when the user turned them off (`--no-progress`,
`--train.no-progress`). While they are shown, warnings and log records are written above them on lines of
their own (`tqdm.write`), not glued into the bar.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from typing import Any, TextIO

WIDTH = 80  # columns of a bar whose terminal width is unknown (a file, a test)


def is_main_process() -> bool:
    """False in the processes of a torchrun job other than rank 0 (they never draw)."""
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


def shown(progress: bool = True, file: TextIO | None = None) -> bool:
    """Whether bars asked for by `progress` are drawn: on a terminal, by process 0 only."""
    file = sys.stderr if file is None else file
    isatty = getattr(file, "isatty", None)
    return bool(progress) and is_main_process() and bool(isatty and isatty())


def new_bar(*, total: int | None, desc: str, unit: str, initial: int = 0, leave: bool = True,
            file: TextIO | None = None, position: int | None = None) -> Any:
    """A tqdm bar at most the terminal's width (WIDTH columns when it is unknown)."""
    from tqdm.auto import tqdm

    file = sys.stderr if file is None else file
    tty = bool(getattr(file, "isatty", None) and file.isatty())
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave, file=file, position=position,
                dynamic_ncols=tty, ncols=None if tty else WIDTH, mininterval=0.1 if tty else 0.0)


def format_warning(message, category, filename, lineno, line=None) -> str:
    """genlab's own warnings as one line, 'genlab: warning (GANWarning): ...', without the file and source line
    Python adds (they say nothing to a user); other warnings as Python formats them."""
    if getattr(category, "__module__", "").startswith("genlab."):
        return f"genlab: warning ({category.__name__}): {message}\n"
    return _PYTHON_FORMAT(message, category, filename, lineno, line)


_PYTHON_FORMAT = warnings.formatwarning


@contextmanager
def messages_above_bars(file: TextIO | None = None):
    """Within it, warnings and log records go through tqdm.write: on their own line above the open bars."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    file = sys.stderr if file is None else file
    previous = warnings.showwarning

    def show(message, category, filename, lineno, f=None, line=None):
        tqdm.write(format_warning(message, category, filename, lineno, line).rstrip("\n"), file=file)

    warnings.showwarning = show
    try:
        with logging_redirect_tqdm():
            yield
    finally:
        warnings.showwarning = previous


class Bars:
    """A progress hook drawn as tqdm bars: `with Bars("sample") as progress: model.sample(n, progress=progress)`.

    `progress(stage, done, total)`: done 0 opens (or restarts) the stage's bar, done k moves it to k of
    total. The first stage's bar is titled `desc` and stays when done; later stages (inner loops) are
    cleared. Drawn only when `shown(progress, file)` (or `force`, for tests); otherwise a cheap no-op.
    `progress` may also be the caller's own hook, a callable, which then gets every call instead.
    """

    def __init__(self, desc: str, progress: Any = True, *, file: TextIO | None = None, force: bool = False):
        self.desc, self.file = desc, sys.stderr if file is None else file
        self.forward = progress if callable(progress) else None
        self.enabled = self.forward is None and (force or shown(bool(progress), self.file))
        self.bars: dict[str, Any] = {}
        self._redirect = None

    def __bool__(self) -> bool:
        """False when it would neither draw nor forward: loops may then skip their calls."""
        return self.enabled or self.forward is not None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.forward is not None:
            self.forward(stage, done, total)
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            first = not self.bars
            bar = self.bars[stage] = new_bar(total=total, desc=self.desc if first else f"  {stage}", unit=stage,
                                             leave=first, file=self.file, position=len(self.bars) - 1)
        elif done == 0 or total != bar.total:
            bar.reset(total=total)
        if done > bar.n:
            bar.update(done - bar.n)

    def write(self, message: str) -> None:
        """A line above the bars (or plainly, on the same stream, when they are off)."""
        if self.enabled:
            from tqdm import tqdm

            tqdm.write(message, file=self.file)
        else:
            print(message, file=self.file)

    def __enter__(self) -> Bars:
        if self.enabled:
            self._redirect = messages_above_bars(self.file)
            self._redirect.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
        if self._redirect is not None:
            self._redirect.__exit__(*exc)
            self._redirect = None

    def close(self) -> None:
        for bar in reversed(list(self.bars.values())):
            bar.close()
        self.bars.clear()


__all__ = ["WIDTH", "Bars", "is_main_process", "messages_above_bars", "new_bar", "shown"]
