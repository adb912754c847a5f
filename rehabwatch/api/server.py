"""Serving the API with uvicorn: in the foreground (``rehabwatch api``) or on a thread of
``rehabwatch up``. uvicorn's access log is off: it would log paths, and paths hold patient
ids; :class:`rehabwatch.api.observe.Observe` logs route templates instead."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from rehabwatch.api.app import create_app, served
from rehabwatch.settings import Settings
from schemas.errors import UsageError

#: Seconds ``up`` waits for its API to listen.
START_TIMEOUT_S = 20.0


def config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(served(create_app(settings)), host=settings.api.host, port=settings.api.port,
                          access_log=False, log_level=settings.stream.loglevel,
                          proxy_headers=True, lifespan="off", timeout_graceful_shutdown=5)


def serve(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM."""
    uvicorn.Server(config(settings)).run()


@contextmanager
def background(settings: Settings) -> Iterator[str]:
    """The API served on a thread (a free port if ``RW_API_PORT`` is 0); its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.api.host, settings.api.port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"the HTTP API cannot listen on {settings.api.host}:"
                         f"{settings.api.port} ({exc.strerror}): set RW_API_HOST/RW_API_PORT "
                         "(RW_API_PORT=0: a free port)") from None
    server = uvicorn.Server(config(settings))
    # Off the main thread, uvicorn leaves the signals to `up`.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="rehabwatch-api")
    thread.start()
    try:
        for _ in range(int(START_TIMEOUT_S * 20)):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        if not server.started:
            raise RuntimeError("the HTTP API did not start")
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
