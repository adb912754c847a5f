"""Notification channels (no database): SMTP e-mail and a signed webhook; the retry schedule.

A notifier sends a *batch*: one notification, or the digest route's notifications of the day
(:func:`next_digest`). It either hands the whole batch over or raises :class:`DeliveryError`
with a reason a person can act on; neither the reason nor any log line names a patient. Every
batch carries a deterministic id (:func:`batch_id`: the notification's own id, or an opaque
id of the digest's notification ids) as the e-mail's ``Message-ID`` and the webhook's
``webhook-id``, so a receiver can drop a repeated delivery.

Privacy: e-mail is not a secure channel, so an e-mail names no patient: it carries the rule,
severity, kind, the opaque alert id and the alert's message, which states measured values,
targets, dates and plan weeks and never an identifier (:mod:`alerts.messages`), and says how
to look the alert up. The webhook goes system to system, to the care team's system, and
carries the patient id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

from alerts.lifecycle import opaque_id
from schemas.alert_records import Notification
from schemas.errors import RehabwatchError

#: Every route a notification can take (:func:`alerts.lifecycle.routes`).
ROUTES = ("clinician", "digest", "patient", "monitoring")


class DeliveryError(RehabwatchError):
    """A channel did not take a notification; the message says why and names no patient."""


@dataclass(frozen=True)
class Outgoing:
    """A notification on its way, with its alert's severity when it is sent."""

    note: Notification
    severity: str


class Notifier(Protocol):
    """A delivery channel: ``name`` for logs and metrics, the ``routes`` it serves, and
    :meth:`send`, which delivers a batch of one route or raises :class:`DeliveryError`."""

    name: str
    routes: frozenset[str]

    def send(self, batch: Sequence[Outgoing]) -> None: ...


def batch_id(batch: Sequence[Outgoing]) -> str:
    """The batch's deterministic id: its notification's id, or a digest id of them all."""
    if len(batch) == 1:
        return batch[0].note.id
    return opaque_id("dg", *sorted(o.note.id for o in batch))


# -- schedule ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: the first retry ``first_delay`` after a failed attempt, each next
    one twice as late, never more than ``max_delay``; none after ``max_attempts`` attempts."""

    first_delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 10

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1 = the first)."""
        return min(self.first_delay * 2 ** min(max(attempts - 1, 0), 30), self.max_delay)

    def next_attempt(self, attempts: int, failed_at: datetime) -> datetime | None:
        """When to try again after ``attempts`` failed attempts, or None: no more tries."""
        return None if attempts >= self.max_attempts else failed_at + self.delay(attempts)


def next_digest(after: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first digest time (local ``at`` in ``zone``) at or after ``after``, as aware UTC."""
    local = after.astimezone(zone)
    slot = datetime.combine(local.date(), at, zone)
    if slot < local:
        slot = datetime.combine(local.date() + timedelta(days=1), at, zone)
    return slot.astimezone(timezone.utc)


# -- e-mail --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmtpServer:
    """Where e-mail goes: ``smtp://[user:password@]host[:port][?starttls=1]`` (plain, or
    upgraded by STARTTLS) or ``smtps://...`` (TLS from the start); login only with a user."""

    host: str
    port: int
    tls: bool = False
    starttls: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 15.0

    @classmethod
    def from_url(cls, url: str, timeout_s: float = 15.0) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must look like smtp://[user:password@]host[:port]"
                             "[?starttls=1] or smtps://...")
        tls = parts.scheme == "smtps"
        flag = parse_qs(parts.query).get("starttls", ["0"])[-1].lower()
        return cls(parts.hostname, parts.port or (465 if tls else 25), tls,
                   flag in ("1", "true", "yes"), unquote(parts.username or ""),
                   unquote(parts.password or ""), timeout_s)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def connect(self) -> smtplib.SMTP:
        """An open, greeted (and, if configured, encrypted and logged-in) connection."""
        context = ssl.create_default_context()
        smtp = (smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
                if self.tls else smtplib.SMTP(self.host, self.port, timeout=self.timeout_s))
        try:
            if self.starttls:
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


class EmailNotifier:
    """E-mail through an SMTP server to fixed recipients per route. Names no patient."""

    name = "email"

    def __init__(self, server: SmtpServer, sender: str,
                 recipients: Mapping[str, Sequence[str]]) -> None:
        self.server, self.sender = server, sender
        self.recipients = {route: list(to) for route, to in recipients.items() if to}
        self.routes = frozenset(self.recipients)

    def send(self, batch: Sequence[Outgoing]) -> None:
        message = email_message(batch, self.sender, self.recipients[batch[0].note.route])
        try:
            with self.server.connect() as smtp:
                smtp.send_message(message)  # raises unless at least one recipient took it
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"e-mail via {self.server}: every recipient refused "
                                f"({_smtp_reasons(exc.recipients)})") from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"e-mail via {self.server}: {exc.smtp_code} "
                                f"{_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"e-mail via {self.server}: {type(exc).__name__}: "
                                f"{exc}") from exc


def email_message(batch: Sequence[Outgoing], sender: str, to: Sequence[str]) -> EmailMessage:
    """The e-mail for ``batch``: one alert, or the daily digest. No patient identifier."""
    msg = EmailMessage()
    first = batch[0]
    if len(batch) == 1:
        msg["Subject"] = (f"rehabwatch: {first.severity} {first.note.rule} alert "
                          f"({first.note.kind})")
    else:
        msg["Subject"] = f"rehabwatch: daily digest, {len(batch)} notifications"
    msg["From"], msg["To"] = sender, ", ".join(to)
    domain = sender.rpartition("@")[2] or "rehabwatch.invalid"
    msg["Message-ID"] = f"<{batch_id(batch)}@{domain}>"
    blocks = "\n\n".join(_email_block(o) for o in batch)
    msg.set_content(
        "rehabwatch alert notification. For privacy this e-mail names no patient: look the "
        "alert up by its id in rehabwatch (`rehabwatch alerts`) or in the care team's "
        f"system.\n\n{blocks}\n\nrehabwatch is decision support, not an emergency channel.\n")
    return msg


def _email_block(o: Outgoing) -> str:
    n = o.note
    return (f"Rule:      {n.rule}\nSeverity:  {o.severity}\nWhy sent:  {n.kind}\n"
            f"Alert id:  {n.alert_id}\nRaised at: {n.at:%Y-%m-%d %H:%M} UTC\n"
            f"Message:   {n.message}")


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def _smtp_reasons(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{code} {_text(text)}" for code, text in refused.values())


# -- webhook -------------------------------------------------------------------------------

def parse_secret(text: str) -> bytes:
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of 24 to 64 random
    bytes."""
    if not text.startswith("whsec_"):
        raise ValueError("the webhook secret must be whsec_ followed by base64 (Standard "
                         "Webhooks), e.g. whsec_ + `openssl rand -base64 32`")
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise ValueError("the webhook secret after whsec_ is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"the webhook secret is {len(key)} bytes; it needs 24 to 64")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of
    ``{msg_id}.{timestamp}.{body}`` (Standard Webhooks, symmetric)."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_body(batch: Sequence[Outgoing]) -> bytes:
    """The JSON body (compact, as signed): one notification, or a digest of several."""
    items = [_webhook_item(o) for o in batch]
    if len(batch) == 1:
        doc: dict[str, Any] = {"type": "rehabwatch.alert.notification",
                               "timestamp": items[0]["created_at"], "data": items[0]}
    else:
        doc = {"type": "rehabwatch.alert.digest", "timestamp": max(i["created_at"] for i in items),
               "data": {"id": batch_id(batch), "notifications": items}}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _webhook_item(o: Outgoing) -> dict[str, Any]:
    n = o.note
    return {"id": n.id, "alert_id": n.alert_id, "patient_id": n.patient_id, "rule": n.rule,
            "route": n.route, "kind": n.kind, "severity": o.severity, "message": n.message,
            "created_at": n.at.astimezone(timezone.utc).isoformat()}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure (Standard Webhooks): the URL should be updated instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class WebhookNotifier:
    """HTTP POST of the JSON body to ``url``, signed per Standard Webhooks; a 2xx answer is a
    delivery, anything else (a redirect included) a failure. Carries the patient id."""

    name = "webhook"

    def __init__(self, url: str, key: bytes, routes: Sequence[str], timeout_s: float = 15.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.url, self.key, self.timeout_s, self.clock = url, key, timeout_s, clock
        self.routes = frozenset(routes)

    def send(self, batch: Sequence[Outgoing]) -> None:
        msg_id, body = batch_id(batch), webhook_body(batch)
        stamp = int(self.clock().timestamp())  # the attempt's time, as the receiver checks it
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(stamp), "webhook-signature": sign(self.key, msg_id, stamp,
                                                                       body)})
        try:
            with _OPENER.open(request, timeout=self.timeout_s):
                pass
        except urllib.error.HTTPError as exc:  # the body may echo the payload: not read
            exc.close()
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from exc
        except urllib.error.URLError as exc:
            raise DeliveryError(f"webhook unreachable: {exc.reason}") from exc
        except OSError as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
