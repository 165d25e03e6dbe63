"""genlab.cli.main: the command table, one-line errors, a light `import genlab`, and the CLI on top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import genlab
from genlab.cli import COMMANDS
from tests.cli.conftest import cli


def test_every_command_is_listed():
    assert sorted(COMMANDS) == sorted(["train", "sample", "reconstruct", "interpolate", "info", "datasets", "demo",
                                       "eval", "bench", "stylemix", "latent-walk", "inpaint", "denoise", "dream",
                                       "search", "arithmetic", "serve", "report", "compress", "decompress", "anomaly",
                                       "augment", "translate", "upscale", "generate"])


@pytest.mark.parametrize("args, message", [
    (["train", "vae", "--data", "nosuchdata", "--runs-dir", "RUNS"], "nosuchdata"),
    (["sample", "RUNS/missing"], "not a genlab run"),
    (["sample", "RUNS/v", "--out", "x.jpg"], ".png or .npz"),
    (["sample", "RUNS/v", "--label", "3"], "conditional"),
    (["sample", "RUNS/v", "--option", "steps=20"], "no sampling option"),
    (["sample", "RUNS/v", "--option", "steps"], "KEY=VALUE"),
    (["sample", "RUNS/v", "--option", "steps", "--option", "temperature=1"], "KEY=VALUE"),  # every --option counts
])
def test_bad_input_gives_one_clear_line(trained, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # the default --out samples.png is looked at here
    args = [a.replace("RUNS", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as e:
        cli(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def raising(error: BaseException):
    def load_run(*args, **kwargs):
        raise error
    return load_run


def test_an_unexpected_error_is_one_line_with_a_hint(monkeypatch, capsys):
    monkeypatch.delenv("GENLAB_DEBUG", raising=False)
    monkeypatch.setattr("genlab.runs.load_run", raising(RuntimeError("boom\n  in the second line")))
    with pytest.raises(SystemExit) as e:
        cli("info", "runs/x")
    assert e.value.code == 1
    assert capsys.readouterr().err == ("genlab: error: RuntimeError: boom in the second line (unexpected; set "
                                       "GENLAB_DEBUG=1 for the traceback)\n")


def test_genlab_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setenv("GENLAB_DEBUG", "1")
    monkeypatch.setattr("genlab.runs.load_run", raising(RuntimeError("boom")))
    with pytest.raises(RuntimeError, match="boom"):
        cli("info", "runs/x")


@pytest.mark.parametrize("error, code, line", [
    (KeyboardInterrupt(), 130, "genlab: interrupted"),
    (PermissionError(13, "Permission denied", "/x/y.png"), 2, "genlab: error: Permission denied: /x/y.png"),
    (FileNotFoundError("dataset foo not found in data/"), 2, "genlab: error: dataset foo not found in data/"),
])
def test_interrupts_and_file_errors_are_one_line(monkeypatch, capsys, error, code, line):
    monkeypatch.delenv("GENLAB_DEBUG", raising=False)
    monkeypatch.setattr("genlab.runs.load_run", raising(error))
    with pytest.raises(SystemExit) as e:
        cli("info", "runs/x")
    assert e.value.code == code and capsys.readouterr().err == line + "\n"


def test_stdout_closed_early_is_quiet(trained):
    """`genlab info RUN | head -1`: the reader has gone before genlab writes (closed here at once, so the
    write always fails); no BrokenPipeError traceback, the status a SIGPIPE death gives (141)."""
    p = subprocess.Popen([sys.executable, "-m", "genlab", "info", str(trained)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait() == 141 and err == b""


def test_unknown_family_lists_valid_ones():
    out = subprocess.run([sys.executable, "-m", "genlab", "train", "gann"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "vae" in out.stdout + out.stderr and "Traceback" not in out.stderr


def test_import_is_light():
    code = "import sys, genlab; print(any(m.startswith(('torch', 'sklearn', 'matplotlib')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_nothing_below_the_cli_imports_it():
    root = Path(genlab.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] == "cli" or rel == Path("__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if isinstance(node, ast.ImportFrom) and node.module == "genlab":
                names += [f"genlab.{a.name}" for a in node.names]
            offenders += [f"{rel}: {n}" for n in names if n == "genlab.cli" or n.startswith("genlab.cli.")]
    assert not offenders


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag, capsys):
    from genlab.version import __version__

    cli(flag)
    assert capsys.readouterr().out == f"genlab {__version__}\n"
