"""`genlab serve RUN [RUN ...]`: the local web app over trained runs (docs/SERVE.md)."""

from __future__ import annotations

import tyro

from genlab.config import check_bounds


def serve(runs: tyro.conf.Positional[tuple[str, ...]], port: int = 8000, ema: bool = True,
          threads: int = 0) -> None:
    """Serve runs in a local web app on 127.0.0.1: sampling, latent sliders, inpainting on a canvas, text,
    and a side-by-side comparison; fully offline. Needs the `serve` extra (pip install 'genlab[serve]').

    Args:
        runs: run folders (runs/NAME ...), one page each.
        port: the port on 127.0.0.1 (0: any free port).
        ema: use the EMA weights when a run kept them.
        threads: torch CPU threads (0: torch's default).
    """
    check_bounds("--port", port, ge=0, le=65535)
    check_bounds("--threads", threads, ge=0)
    try:
        from genlab.serve.app import make_app
    except ModuleNotFoundError as e:  # starlette or uvicorn missing
        raise ValueError(f"genlab serve needs the optional `serve` extra ({e.name} is not installed): "
                         "pip install 'genlab[serve]'") from None
    from genlab.serve.server import load_runs, serve_forever

    if threads:
        import torch

        torch.set_num_threads(threads)
    served = load_runs(runs, ema=ema)  # a run that cannot be loaded stops here, with its message
    app = make_app(served)
    serve_forever(app, port, on_ready=lambda url: print(
        f"genlab serve: {len(served)} run(s) ({', '.join(served)}) at {url} (Ctrl-C to stop)", flush=True))
