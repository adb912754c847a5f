"""Serving the API with uvicorn: in the foreground (``rehabwatch api``) or on a thread of
``rehabwatch up``. uvicorn's access log is off: it would log paths, and paths hold patient
ids; :class:`rehabwatch.api.observe.Observe` logs one JSON line per request with the route
template instead (logger ``rehabwatch.api.access``, at ``RW_LOG_LEVEL=info``)."""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from rehabwatch.api.app import create_app, served
from rehabwatch.settings import Settings
from schemas.errors import UsageError

#: Seconds ``up`` waits for its API to listen.
START_TIMEOUT_S = 20.0


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus ours: messages as they are (JSON lines) on stderr."""
    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["formatters"]["plain"] = {"format": "%(message)s"}
    cfg["handlers"]["rehabwatch"] = {"class": "logging.StreamHandler", "formatter": "plain",
                                     "stream": "ext://sys.stderr"}
    cfg["loggers"]["rehabwatch"] = {"handlers": ["rehabwatch"], "level": level.upper(),
                                    "propagate": False}
    return cfg


def config(settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(served(create_app(settings)), access_log=False,
                          log_level=settings.stream.loglevel,
                          log_config=log_config(settings.stream.loglevel), proxy_headers=True,
                          lifespan="off", timeout_graceful_shutdown=5)


def bind(settings: Settings) -> socket.socket:
    """A listening socket at ``RW_API_HOST``:``RW_API_PORT`` (port 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.api.host, settings.api.port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"the HTTP API cannot listen on {settings.api.host}:"
                         f"{settings.api.port} ({exc.strerror}): set RW_API_HOST/RW_API_PORT "
                         "(RW_API_PORT=0: a free port)") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def serve(settings: Settings, ready: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``ready`` is told the base URL once bound."""
    sock = bind(settings)
    try:
        ready(url_of(sock))
        uvicorn.Server(config(settings)).run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def background(settings: Settings) -> Iterator[str]:
    """The API served on a thread; its base URL."""
    sock = bind(settings)
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
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
