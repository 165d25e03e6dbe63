"""`genlab serve`: bad input is one line and exit status 2; a real start prints the URL and answers there."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.child_env import ROOT, child_env
from tests.cli.conftest import cli


@pytest.mark.parametrize("args, message", [
    ([], "give at least one run folder"),
    (["RUNS/missing"], "not a genlab run"),
    (["RUN", "--port", "70000"], "--port must be >= 0 and <= 65535"),
])
def test_bad_input_is_one_line(args, message, run_dirs, tmp_path, capsys):
    args = [str(run_dirs["ae"]) if a == "RUN" else a.replace("RUNS", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as e:
        cli("serve", *args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.count("\n") == 1, err


def test_a_taken_port_is_named(run_dirs, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit):
            cli("serve", str(run_dirs["ae"]), "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_without_the_extra_the_message_says_how_to_install_it(run_dirs, monkeypatch, capsys):
    import genlab.serve.server

    def never(*args, **kwargs):
        raise AssertionError("serve started without its extra")

    monkeypatch.setattr(genlab.serve.server, "serve_forever", never)
    monkeypatch.delitem(sys.modules, "genlab.serve.app", raising=False)
    for name in [m for m in sys.modules if m == "starlette" or m.startswith("starlette.")] + ["starlette"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed (submodules imported before too)
    with pytest.raises(SystemExit):
        cli("serve", str(run_dirs["ae"]))
    assert "pip install 'genlab[serve]'" in capsys.readouterr().err


def test_serve_prints_its_url_and_answers_there(run_dirs):
    env = child_env()
    proc = subprocess.Popen([sys.executable, "-m", "genlab", "serve", str(run_dirs["ae"]), str(run_dirs["gpt"]),
                             "--port", "0", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert "genlab serve: 2 run(s) (ae, gpt) at http://127.0.0.1:" in line, proc.stderr.read()
        url = line.split(" at ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "api/runs", timeout=30) as r:
            assert [run["name"] for run in json.load(r)["runs"]] == ["ae", "gpt"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
