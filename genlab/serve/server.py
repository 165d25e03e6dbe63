"""Load runs and serve them on 127.0.0.1 with uvicorn: in the foreground (`genlab serve`) or on a background
thread (tests, notebooks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # the app is local: it never listens on another interface


def load_runs(paths: Sequence[str | Path], *, ema: bool = True) -> dict[str, Any]:
    """{name: Served} for run folders (the folder's name; a repeated name gets -2, -3, ...)."""
    from genlab.runs import load_run
    from genlab.serve.served import Served

    if not paths:
        raise ValueError("give at least one run folder, e.g. genlab serve runs/vae-mnist runs/ddpm-mnist")
    out: dict[str, Served] = {}
    for path in paths:
        base = Path(path).resolve().name or "run"
        name, k = base, 1
        while name in out:
            k += 1
            name = f"{base}-{k}"
        out[name] = Served(name, load_run(path, ema=ema))
    return out


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: any free port); OSError naming the port when it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"cannot listen on {HOST}:{port} ({e.strerror}); choose another --port") from None
    sock.listen(128)
    return sock


def _server(app: Any, log_level: str) -> Any:
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on"))


def serve_forever(app: Any, port: int, *, log_level: str = "warning", on_ready: Any = None) -> None:
    """Serve `app` on 127.0.0.1:port until Ctrl-C; on_ready(url) once it listens."""
    sock = bind(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}/"
    if on_ready is not None:
        on_ready(url)
    _server(app, log_level).run(sockets=[sock])


class Background:
    """`app` served on a free port of 127.0.0.1 by a daemon thread: `url`, and `stop()` to end it."""

    def __init__(self, app: Any, *, port: int = 0, timeout: float = 20.0):
        self._sock = bind(port)
        self.url = f"http://{HOST}:{self._sock.getsockname()[1]}/"
        self._server = _server(app, "warning")
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the app did not start on {self.url}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


__all__ = ["HOST", "Background", "bind", "load_runs", "serve_forever"]
