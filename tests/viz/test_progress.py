"""Progress bars: drawn only where asked and on a terminal, by rank 0; warnings print above them; 80 columns."""

from __future__ import annotations

import io
import re
import warnings

import pytest

from genlab.viz.progress import WIDTH, Bars, messages_above_bars, shown


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True

    @property
    def text(self) -> str:
        return self.getvalue()

    @text.setter
    def text(self, value: str) -> None:
        self.seek(0)
        self.truncate(0)
        self.write(value)


def screen(text: str) -> list[str]:
    """The lines a terminal shows for `text`: carriage returns rewrite the line, ESC[A moves up a line."""
    lines, row, col = [""], 0, 0
    for token in re.split(r"(\r|\n|\x1b\[A)", text):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
            lines += [""] * (row + 1 - len(lines))
        elif token == "\x1b[A":
            row = max(0, row - 1)
        elif token:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + token + line[col + len(token):]
            col += len(token)
    return [line.rstrip() for line in lines]


def test_a_warning_during_a_bar_prints_on_its_own_line_above_it():
    out = io.StringIO()
    with Bars("sample ddpm", file=out, force=True) as progress:
        progress("batch", 0, 4)
        progress("step", 0, 10)
        for k in range(1, 6):
            progress("step", k, 10)
        warnings.warn("the discriminator won: D(real) - D(fake) = 9.1", UserWarning, stacklevel=1)
        progress("step", 6, 10)
        progress("batch", 1, 4)
    lines = screen(out.getvalue())
    said = [i for i, line in enumerate(lines) if "UserWarning: the discriminator won" in line]
    assert len(said) == 1
    assert re.search(r"test_progress.py:\d+: UserWarning: the discriminator won: D\(real\) - D\(fake\) = 9.1$",
                     lines[said[0]])
    assert "|" not in lines[said[0]] and "step" not in lines[said[0]]  # no bar glued to it
    bar = [i for i, line in enumerate(lines) if line.startswith("sample ddpm:") and "1/4" in line]
    assert bar and bar[0] > said[0]  # the bar is redrawn below the message
    assert all(len(line) <= WIDTH for line in lines if "discriminator" not in line)  # the bars


def test_messages_above_bars_restores_the_warning_printer():
    before = warnings.showwarning
    with messages_above_bars(io.StringIO()):
        assert warnings.showwarning is not before
    assert warnings.showwarning is before


def test_bars_stay_within_80_columns_with_long_titles():
    out = io.StringIO()
    with Bars("eval a-rather-long-family-name seed 12345 of a run with a long name", file=out, force=True) as bar:
        bar("sample", 0, 1000)
        bar("sample", 999, 1000)
        bar("real features", 0, 20)
        bar("real features", 3, 20)
    assert max(len(line) for line in screen(out.getvalue())) <= WIDTH


def test_bars_are_off_on_a_file_when_asked_off_and_on_other_ranks(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert not shown(True, io.StringIO())  # not a terminal: a log file, a pipe, CI
    assert shown(True, Terminal()) and not shown(False, Terminal())
    monkeypatch.setenv("RANK", "1")
    assert not shown(True, Terminal())  # only process 0 of a torchrun job draws
    out = Terminal()
    bars = Bars("sample", True, file=out)
    assert not bars
    bars("batch", 0, 3)
    bars.close()
    assert out.getvalue() == ""


def test_a_callable_gets_every_call_and_nothing_is_drawn():
    calls, out = [], Terminal()
    with Bars("sample", lambda *a: calls.append(a), file=out) as progress:
        assert progress
        progress("batch", 0, 2)
        progress("batch", 1, 2)
    assert calls == [("batch", 0, 2), ("batch", 1, 2)] and out.getvalue() == ""


@pytest.mark.parametrize("total", [3, 7])
def test_a_stage_restarts_when_it_reports_zero_again(total):
    out = io.StringIO()
    with Bars("sample", file=out, force=True) as progress:
        progress("batch", 0, 2)
        for _ in range(2):
            progress("step", 0, total)
            for k in range(1, total + 1):
                progress("step", k, total)
        assert progress.bars["step"].n == total and progress.bars["step"].total == total


def test_genlab_warnings_print_on_one_line_without_the_source_line():
    from genlab.models.gan.watch import GANWarning
    from genlab.viz.progress import format_warning

    text = format_warning(GANWarning("mode collapse"), GANWarning, "/x/trainer.py", 403, "callback(self, record)")
    assert text == "genlab: warning (GANWarning): mode collapse\n"
    other = format_warning(UserWarning("w"), UserWarning, "/x/y.py", 3, "z()")
    assert "/x/y.py:3" in other and "UserWarning" in other
