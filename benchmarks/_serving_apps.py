"""The two baselines of serving_speed.py, each under uvicorn as ``modelyard server`` runs it.

    python benchmarks/_serving_apps.py bare --port N
    python benchmarks/_serving_apps.py starlette --port N --model model.joblib

- ``bare``: a raw ASGI callable (no framework) that reads the request body and answers a
  constant JSON, ``{"predictions": [0]}``: what uvicorn alone costs per request.
- ``starlette``: a hand-written minimal Starlette app, ``POST /predict`` with
  ``{"data": [[...], ...]}``: parse the JSON body, ``model.predict`` in-process on the event
  loop, answer ``{"predictions": [...]}``. What serving the model costs without a registry,
  a gateway or a worker process.

Both answer ``GET /healthz``. uvicorn runs as ``modelyard server`` runs it: ``uvicorn.run(app,
host, port, log_level="info", access_log=False)``, one process, the default loop and HTTP
implementations (uvloop and httptools where installed, as in the project's venv).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

_CONSTANT = json.dumps({"predictions": [0]}).encode()
_HEALTH = json.dumps({"status": "ok"}).encode()
_HEADERS = [(b"content-type", b"application/json")]


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Raw ASGI: drain the body, answer the constant JSON (200) on any path."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = _HEALTH if scope["path"] == "/healthz" else _CONSTANT
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def minimal_starlette(model_path: str) -> Any:
    """The Starlette app around the joblib-saved estimator at ``model_path``."""
    import joblib
    import numpy as np
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    model = joblib.load(model_path)

    async def predict(request: Request) -> JSONResponse:
        body = await request.json()
        rows = np.asarray(body["data"], dtype=float)
        return JSONResponse({"predictions": model.predict(rows).tolist()})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("app", choices=["bare", "starlette"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--model", help="joblib file (starlette)")
    args = ap.parse_args()
    import uvicorn

    if args.app == "bare":
        app: Any = bare
    else:
        if not args.model:
            ap.error("starlette needs --model")
        app = minimal_starlette(args.model)
    # As `modelyard server` (src/modelyard/cli/main.py) calls it.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
