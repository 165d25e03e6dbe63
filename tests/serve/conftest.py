"""Tiny runs for the web app's tests (trained once per session, a few seconds on 2 cores): an MLP autoencoder
(a latent space whose directions change the decoded image even after a few steps, unlike a tiny VAE's, whose
KL collapses it) and a class-conditional ddpm on the embedded 8x8 digits, and a character GPT on a short text."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli.conftest import cli

TINY_AE = ["ae", "--data", "digits", "--arch", "mlp", "--hidden", "32", "--latent-dim", "4", "--train.steps", "30",
           "--train.batch-size", "32", "--train.lr", "3e-3", "--train.no-progress", "--train.log-every", "10"]
TINY_DDPM = ["ddpm", "--data", "digits", "--preset", "tiny", "--timesteps", "20", "--sample-steps", "2",
             "--conditional", "--train.steps", "2", "--train.batch-size", "16", "--train.no-progress"]
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory):
    """The tiny runs; GENLAB_SERVE_RUNS=FOLDER uses FOLDER/ae, ddpm and gpt instead (better trained runs for
    the screenshots in docs/SERVE.md: the browser tests pass on them too)."""
    given = os.environ.get("GENLAB_SERVE_RUNS")
    if given:
        return {name: Path(given) / name for name in ("ae", "ddpm", "gpt")}
    root = tmp_path_factory.mktemp("serve_runs")
    (root / "t.txt").write_text(TEXT)
    cli("train", *TINY_AE, "--runs-dir", str(root), "--name", "ae")
    cli("train", *TINY_DDPM, "--runs-dir", str(root), "--name", "ddpm")
    cli("train", "gpt", "--data", f"text:{root / 't.txt'}", "--layers", "1", "--heads", "2", "--dim", "16",
        "--context", "16", "--train.steps", "4", "--train.batch-size", "8", "--train.no-progress",
        "--runs-dir", str(root), "--name", "gpt")
    return {name: root / name for name in ("ae", "ddpm", "gpt")}


@pytest.fixture(scope="session")
def served(run_dirs):
    from genlab.serve.server import load_runs

    return load_runs([run_dirs["ae"], run_dirs["ddpm"], run_dirs["gpt"]])


@pytest.fixture(scope="session")
def server(served):
    """The app on a free port of 127.0.0.1, served by uvicorn on a background thread."""
    from genlab.serve.app import make_app
    from genlab.serve.server import Background

    bg = Background(make_app(served))
    yield bg
    bg.stop()


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class Client:
    """A small HTTP client (the standard library's) for the app's tests: no dependency beyond the extra."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def request(self, method: str, path: str, *, json_body=None, content: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        data = content if content is not None else None if json_body is None else json.dumps(json_body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if json_body is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return Answer(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def get(self, path: str, **kw) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, *, json=None, content: bytes | None = None) -> Answer:  # noqa: A002
        return self.request("POST", path, json_body=json, content=content)

    def delete(self, path: str) -> Answer:
        return self.request("DELETE", path)


@pytest.fixture
def client(server):
    return Client(server.url)


# headless chromium for the browser tests (tests/serve/test_browser.py, test_kinds.py)
CHROMIUM = os.environ.get("GENLAB_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 90_000  # generous: a busy CI machine; a passing run takes about 20 s in all


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A persistent context of headless chromium on a fresh profile (--user-data-dir), and the list of every
    URL it requested. The app's Content-Security-Policy is bypassed (it would also block Playwright's own
    page scripts): a request to another host is then sent, recorded, and fails the test."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"chromium is not installed ({CHROMIUM} is missing): `apt-get install chromium` (as root; "
                    ".ci/run does), or set GENLAB_CHROMIUM to a chromium binary")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1100, "height": 900}, service_workers="block",
            bypass_csp=True)  # the app's CSP would block requests to other hosts: here they must not even be tried
        context.set_default_timeout(TIMEOUT_MS)
        requests: list[str] = []
        context.on("request", lambda r: requests.append(r.url))
        yield context, requests
        context.close()
