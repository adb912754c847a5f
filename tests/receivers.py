"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP server
(stdlib) on 127.0.0.1, each in its own thread, recording what they were sent. Webhook
signatures are checked with ``standardwebhooks``, the reference implementation of the
Standard Webhooks specification (independent of :mod:`alerts.notifiers`)."""

from __future__ import annotations

import base64
import email
import email.policy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from rehabwatch.broker import free_port

#: A signing secret as an operator would make one (24+ random bytes, base64, ``whsec_``).
SECRET = "whsec_" + base64.b64encode(b"rehabwatch-test-signing-key-32by").decode()


@dataclass
class Mailbox:
    """What an SMTP server received; ``refuse``: the reply to DATA instead of accepting."""

    messages: list[tuple[list[str], EmailMessage, bytes]] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    port: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return self.refuse.pop(0)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg, raw))  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def smtp_server(**controller: Any) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1 for the duration of the block."""
    box = Mailbox(port=free_port())
    ctl = Controller(box, hostname="127.0.0.1", port=box.port, **controller)
    ctl.start()
    try:
        yield box
    finally:
        ctl.stop()


@dataclass
class Hook:
    """What a webhook endpoint received (headers, raw body, status answered); ``statuses``:
    the answers to give, in order, then 204."""

    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    url: str = ""

    def verified(self) -> list[dict[str, Any]]:
        """Every received payload, each signature checked by the reference implementation."""
        wh = Webhook(SECRET)
        return [wh.verify(body, headers) for headers, body, _ in self.received]

    def accepted_ids(self) -> list[str]:
        return [h["webhook-id"] for h, _, status in self.received if 200 <= status < 300]


@contextmanager
def webhook_server() -> Iterator[Hook]:
    """An HTTP server on 127.0.0.1 taking POSTs for the duration of the block."""
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = hook.statuses.pop(0) if hook.statuses else 204
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body,
                                  status))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", hook.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/rehabwatch"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
