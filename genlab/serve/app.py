"""The web app (Starlette): the page shell and its static files, and the JSON API behind them (docs/SERVE.md).

Every answer to a bad request is a 4xx JSON object {"error": "one line"}; the page shows that line. The
page loads nothing from any other host: the Content-Security-Policy sent with every answer allows only
this server (and data: images), and the Host header must name 127.0.0.1 or localhost (no DNS rebinding).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from genlab.serve.jobs import Busy, Jobs, one_line
from genlab.serve.served import Served

STATIC = Path(__file__).parent / "static"
MAX_BODY = 4 << 20  # bytes of one request body (two PNG data URLs of the largest images fit)
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                                 b"script-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; "
                                 b"base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds HEADERS to every answer (a plain ASGI middleware)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object, read up to MAX_BODY bytes; HTTPException 413 or 400 otherwise."""
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HTTPException(413, f"the request body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HTTPException(400, f"the request body is not JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    if not isinstance(body, dict):
        raise HTTPException(400, f"the request body must be a JSON object, got {type(body).__name__}")
    return body


Handler = Callable[[Request], Awaitable[Response]]


def api(fn: Callable[..., Awaitable[Any]]) -> Handler:
    """An API endpoint: its result as JSON; ValueError -> 400, Busy -> 429, HTTPException as raised,
    anything else -> 500; always {"error": one line}."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await fn(request)
        except HTTPException as e:
            return error(e.status_code, str(e.detail))
        except Busy as e:
            return error(429, str(e))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return error(400, one_line(e))
        except Exception as e:  # noqa: BLE001 - the page shows a line, never a stack trace
            return error(500, f"{type(e).__name__}: {one_line(e)}")
        return result if isinstance(result, Response) else JSONResponse(result)

    return endpoint


def make_app(runs: dict[str, Served], jobs: Jobs | None = None) -> Starlette:
    """The app over `runs` (name -> Served)."""
    jobs = jobs or Jobs()

    def served(request: Request) -> Served:
        name = request.path_params["name"]
        if name not in runs:
            raise HTTPException(404, f"no run named {name!r} is served; served: {', '.join(runs)}")
        return runs[name]

    async def shell(request: Request) -> Response:
        if "name" in request.path_params and request.path_params["name"] not in runs:
            return FileResponse(STATIC / "index.html", status_code=404)
        return FileResponse(STATIC / "index.html")

    @api
    async def list_runs(request: Request) -> Any:
        return {"runs": [s.info() for s in runs.values()]}

    @api
    async def run_info(request: Request) -> Any:
        return served(request).info()

    def submitter(kind: str, make: Callable[[Served, dict[str, Any]], tuple[int, Any]]) -> Handler:
        @api
        async def submit(request: Request) -> Any:
            s = served(request)
            body = await read_json(request)
            total, work = await run_in_threadpool(make, s, body)  # checks the request before any work
            job = jobs.submit(kind, s.name, total, work)
            return JSONResponse(job.view(), status_code=202)

        return submit

    @api
    async def job_status(request: Request) -> Any:
        job = jobs.get(request.path_params["id"])
        if job is None:
            raise HTTPException(404, f"no job {request.path_params['id']!r} (finished jobs are kept for a while only)")
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            raise HTTPException(400, f"since must be a count of items, got {since!r}")
        return job.view(int(since))

    @api
    async def job_cancel(request: Request) -> Any:
        job = jobs.cancel(request.path_params["id"])
        if job is None:
            raise HTTPException(404, f"no job {request.path_params['id']!r} (finished jobs are kept for a while only)")
        return job.view()

    def direct(method: str) -> Handler:
        @api
        async def answer(request: Request) -> Any:
            s = served(request)
            args = (await read_json(request),) if request.method == "POST" else ()
            return await run_in_threadpool(getattr(s, method), *args)

        return answer

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/"):
            return error(404, f"no API endpoint {request.method} {request.url.path}")
        return FileResponse(STATIC / "index.html", status_code=404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return error(405, f"{request.method} is not allowed on {request.url.path}")

    routes = [
        Route("/", shell), Route("/run/{name}", shell), Route("/compare", shell),
        Route("/api/runs", list_runs),
        Route("/api/runs/{name}", run_info),
        Route("/api/runs/{name}/sample", submitter("sample", Served.sample_request), methods=["POST"]),
        Route("/api/runs/{name}/text", submitter("text", Served.text_request), methods=["POST"]),
        Route("/api/runs/{name}/inpaint", submitter("inpaint", lambda s, b: s.edit_request("inpaint", b)),
              methods=["POST"]),
        Route("/api/runs/{name}/denoise", submitter("denoise", lambda s, b: s.edit_request("denoise", b)),
              methods=["POST"]),
        Route("/api/runs/{name}/gallery", direct("gallery_json")),
        Route("/api/runs/{name}/latent", direct("latent_json"), methods=["GET"]),
        Route("/api/runs/{name}/latent", direct("decode_request"), methods=["POST"]),
        Route("/api/runs/{name}/interpolate", direct("interpolate_request"), methods=["POST"]),
        Route("/api/runs/{name}/translate", direct("translate_request"), methods=["POST"]),
        Route("/api/runs/{name}/retrieve", direct("retrieve_request"), methods=["POST"]),
        Route("/api/runs/{name}/classify", direct("classify_request"), methods=["POST"]),
        Route("/api/jobs/{id}", job_status),
        Route("/api/jobs/{id}", job_cancel, methods=["DELETE"]),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    middleware = [Middleware(SecurityHeaders),
                  Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        jobs.close()

    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_allowed},
                    lifespan=lifespan)
    app.state.runs, app.state.jobs = runs, jobs
    return app


__all__ = ["MAX_BODY", "make_app", "read_json"]
