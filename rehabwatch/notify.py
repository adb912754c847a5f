"""Delivery of the notification outbox (``notifications``) through the configured channels.

Rows are queued with their alert change (:func:`rehabwatch.alerting.queue`), due at once
(``next_attempt_at``). :func:`deliver_pending` sends the due ones through the channels of
their route (:mod:`alerts.notifiers`) and records the outcome:

- delivered: ``delivered_at`` set;
- failed: ``attempts`` + 1, ``last_error``, and the next attempt after an exponential backoff
  (:class:`alerts.notifiers.RetryPolicy`); after the last attempt ``next_attempt_at`` is
  cleared and the row stays undelivered, listed by ``rehabwatch notify --status`` and
  counted by the ``rehabwatch_notifications_undelivered`` gauge (state ``failed``);
- no channel for its route: failed at once with that reason, same as above, so the outbox
  never grows silently; ``rehabwatch notify --retry`` sends failed rows again.

Digest-route rows wait for the next daily digest time (``RW_NOTIFY_DIGEST_AT``) and then go
out together, one e-mail or webhook call per channel. Delivery is at least once: a row is
claimed before it is sent (``next_attempt_at`` moved a lease ahead, compare-and-set, so two
workers or the agent and the retry timer never send it at once, and a crash mid-send only
delays it); a crash after a send but before the record, or a route with two channels of
which one fails, sends again, with the same id for the receiver to drop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from alerts.notifiers import (ROUTES, DeliveryError, EmailNotifier, Notifier, Outgoing,
                              RetryPolicy, SmtpServer, WebhookNotifier, batch_id, next_digest,
                              parse_secret)
from rehabwatch import metrics
from storage import database
from schemas.alert_records import Notification
from storage.tables import AlertRow, NotificationRow
from storage.sql import one_of

log = logging.getLogger(__name__)

#: How long a claimed row is left to its sender before another may take it: more than a
#: batch's sends can take (a timeout per channel).
LEASE = timedelta(minutes=5)

_T = NotificationRow.__table__


class NotifyConfigError(ValueError):
    """The notification settings cannot work as given."""


@dataclass(frozen=True)
class Channels:
    """The notifiers, the retry schedule and the digest time: all delivery needs to know."""

    notifiers: Sequence[Notifier] = ()
    policy: RetryPolicy = RetryPolicy()
    digest_at: time = time(7, 0)
    digest_zone: ZoneInfo = ZoneInfo("UTC")

    def for_route(self, route: str) -> list[Notifier]:
        return [n for n in self.notifiers if route in n.routes]

    def unserved(self) -> list[str]:
        """Routes no channel serves: their notifications are failed at once."""
        return [r for r in ROUTES if not self.for_route(r)]

    def describe(self) -> str:
        """One line for startup: which channel serves which route, and what is not served."""
        served = "; ".join(f"{n.name}: {', '.join(sorted(n.routes))}" for n in self.notifiers)
        line = f"notification channels: {served or 'none'}"
        if unserved := self.unserved():
            line += (f". No channel for route(s) {', '.join(unserved)}: their notifications are "
                     "marked failed (`rehabwatch notify --status` lists them, `rehabwatch "
                     "notify --retry` sends them once a channel is configured)")
        return line


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class NotifySettings:
    """Notification settings, read once; each field names its environment variable."""

    #: RW_NOTIFY_SMTP_URL: ``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://``.
    smtp_url: str = field(default="", repr=False)
    #: RW_NOTIFY_EMAIL_FROM: the sender address (its domain also names the Message-ID).
    email_from: str = "rehabwatch@localhost"
    #: RW_NOTIFY_EMAIL_CLINICIAN, RW_NOTIFY_EMAIL_DIGEST, RW_NOTIFY_EMAIL_PATIENT,
    #: RW_NOTIFY_EMAIL_MONITORING: comma-separated recipients of each route's e-mail.
    email_to: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: RW_NOTIFY_WEBHOOK_URL: where signed webhooks are POSTed.
    webhook_url: str = ""
    #: RW_NOTIFY_WEBHOOK_SECRET: ``whsec_`` + base64 of 24-64 random bytes.
    webhook_secret: str = field(default="", repr=False)
    #: RW_NOTIFY_WEBHOOK_ROUTES: comma-separated routes the webhook serves (default all).
    webhook_routes: tuple[str, ...] = ROUTES
    #: RW_NOTIFY_TIMEOUT_S: per SMTP or HTTP exchange.
    timeout_s: float = 15.0
    #: RW_NOTIFY_DIGEST_AT (HH:MM) in RW_NOTIFY_DIGEST_TZ: when the daily digest goes out.
    digest_at: time = time(7, 0)
    digest_tz: str = "UTC"
    #: RW_NOTIFY_MAX_ATTEMPTS: attempts before a notification is left failed.
    max_attempts: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> NotifySettings:
        d = cls()

        def get(name: str, default: str) -> str:
            return env.get(name) or default

        try:
            return cls(
                smtp_url=get("RW_NOTIFY_SMTP_URL", ""),
                email_from=get("RW_NOTIFY_EMAIL_FROM", d.email_from),
                email_to={route: _csv(env.get(f"RW_NOTIFY_EMAIL_{route.upper()}", ""))
                          for route in ROUTES},
                webhook_url=get("RW_NOTIFY_WEBHOOK_URL", ""),
                webhook_secret=get("RW_NOTIFY_WEBHOOK_SECRET", ""),
                webhook_routes=_csv(get("RW_NOTIFY_WEBHOOK_ROUTES", ",".join(ROUTES))),
                timeout_s=float(get("RW_NOTIFY_TIMEOUT_S", str(d.timeout_s))),
                digest_at=time.fromisoformat(get("RW_NOTIFY_DIGEST_AT", "07:00")),
                digest_tz=get("RW_NOTIFY_DIGEST_TZ", d.digest_tz),
                max_attempts=int(get("RW_NOTIFY_MAX_ATTEMPTS", str(d.max_attempts))))
        except ValueError as exc:
            raise NotifyConfigError(f"notification settings: {exc}") from None

    def channels(self) -> Channels:
        """The configured channels; :class:`NotifyConfigError` if they cannot work."""
        try:
            zone = ZoneInfo(self.digest_tz)
        except (KeyError, ValueError) as exc:
            raise NotifyConfigError(f"RW_NOTIFY_DIGEST_TZ {self.digest_tz!r} is not an IANA "
                                    "zone") from exc
        return Channels([*self._email(), *self._webhook()],
                        RetryPolicy(max_attempts=self.max_attempts), self.digest_at, zone)

    def _email(self) -> list[Notifier]:
        recipients = {route: to for route, to in self.email_to.items() if to}
        if not recipients:
            return []
        if not self.smtp_url:
            raise NotifyConfigError("RW_NOTIFY_EMAIL_* names recipients but RW_NOTIFY_SMTP_URL "
                                    "is not set")
        try:
            server = SmtpServer.from_url(self.smtp_url, self.timeout_s)
        except ValueError as exc:
            raise NotifyConfigError(f"RW_NOTIFY_SMTP_URL: {exc}") from None
        return [EmailNotifier(server, self.email_from, recipients)]

    def _webhook(self) -> list[Notifier]:
        if not self.webhook_url:
            return []
        if unknown := set(self.webhook_routes) - set(ROUTES):
            raise NotifyConfigError(f"RW_NOTIFY_WEBHOOK_ROUTES: no route {sorted(unknown)}; "
                                    f"routes are {', '.join(ROUTES)}")
        try:
            key = parse_secret(self.webhook_secret)
        except ValueError as exc:
            raise NotifyConfigError(f"RW_NOTIFY_WEBHOOK_SECRET: {exc}") from None
        return [WebhookNotifier(self.webhook_url, key, self.webhook_routes, self.timeout_s)]


@dataclass
class Report:
    """What one :func:`deliver_pending` did, in notifications: delivered; failed and to be
    retried; failed for good (last attempt); failed for lack of a channel."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    no_channel: int = 0


def deliver_pending(database_url: str, channels: Channels, now: datetime,
                    alert_ids: Collection[str] | None = None, limit: int = 1000) -> Report:
    """Deliver the notifications due at ``now`` (those of ``alert_ids`` only, if given; at most
    ``limit``) and record each outcome. Takes a URL, not a session: rows are claimed in one
    short transaction, and each batch's outcome recorded in its own, so no transaction stays
    open while a channel is waited on."""
    report = Report()
    with database.session_scope(database_url) as session:
        batches = _claim(session, _due(session, now, alert_ids, limit), channels, now, report)
    for batch in batches:
        error = _send(batch, channels.for_route(batch[0].note.route))
        with database.session_scope(database_url) as session:
            _record(session, batch, error, now, channels.policy, report)
    return report


def _due(session: Session, now: datetime, alert_ids: Collection[str] | None,
         limit: int) -> list[Row[Any]]:
    query = (select(_T, AlertRow.severity).join(AlertRow, AlertRow.id == _T.c.alert_id)
             .where(_T.c.delivered_at.is_(None), _T.c.next_attempt_at <= now)
             .order_by(_T.c.next_attempt_at, _T.c.id).limit(limit))
    if alert_ids is not None:
        query = query.where(one_of(_T.c.alert_id, alert_ids))
    return list(session.execute(query))


def _claim(session: Session, rows: Sequence[Row[Any]], channels: Channels, now: datetime,
           report: Report) -> list[list[Outgoing]]:
    """The batches to send now: each due row claimed, the digest route's together. Rows of a
    route without a channel are failed; digest rows not tried yet wait for the digest time."""
    single: list[list[Outgoing]] = []
    digest: list[Outgoing] = []
    for row in rows:
        if not channels.for_route(row.route):
            _set(session, row.id, next_attempt_at=None,
                 last_error=f"no channel configured for route {row.route}")
            report.no_channel += 1
            continue
        if row.route == "digest" and row.attempts == 0:
            slot = next_digest(row.created_at, channels.digest_at, channels.digest_zone)
            if slot > now:
                _set(session, row.id, next_attempt_at=slot)
                continue
        claimed = session.execute(update(_T).where(
            _T.c.id == row.id, _T.c.next_attempt_at == row.next_attempt_at,
            _T.c.delivered_at.is_(None)).values(next_attempt_at=now + LEASE))
        if claimed.rowcount == 1:  # else another sender has it
            out = Outgoing(Notification(row.id, row.alert_id, row.patient_id, row.rule,
                                        row.route, row.kind, row.message, row.created_at),
                           row.severity)
            if row.route == "digest":
                digest.append(out)
            else:
                single.append([out])
    return single + ([digest] if digest else [])


def _send(batch: Sequence[Outgoing], notifiers: Sequence[Notifier]) -> str | None:
    """Send ``batch`` through every notifier of its route; the reasons of those that failed,
    or None. Log lines carry the batch's opaque id, never a patient."""
    route, errors = batch[0].note.route, []
    for notifier in notifiers:
        try:
            notifier.send(batch)
        except DeliveryError as exc:
            errors.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: keep the row, say what it was
            errors.append(f"{notifier.name}: unexpected {type(exc).__name__}")
        else:
            metrics.NOTIFICATIONS_SENT.labels(route, notifier.name).inc(len(batch))
            log.info("notification %s (%s, %d) sent by %s", batch_id(batch), route, len(batch),
                     notifier.name)
            continue
        metrics.NOTIFICATION_FAILURES.labels(route, notifier.name).inc(len(batch))
        log.warning("notification %s (%s) not sent: %s", batch_id(batch), route, errors[-1])
    return "; ".join(errors)[:2000] if errors else None


def _record(session: Session, batch: Sequence[Outgoing], error: str | None, now: datetime,
            policy: RetryPolicy, report: Report) -> None:
    attempts = dict(session.execute(select(_T.c.id, _T.c.attempts).where(
        one_of(_T.c.id, [o.note.id for o in batch]))).all())
    for note_id, done in attempts.items():
        if error is None:
            _set(session, note_id, delivered_at=now, next_attempt_at=None, attempts=done + 1)
            report.delivered += 1
            continue
        retry_at = policy.next_attempt(done + 1, now)
        _set(session, note_id, attempts=done + 1, last_error=error, next_attempt_at=retry_at)
        if retry_at is None:
            report.failed += 1
        else:
            report.retrying += 1


def _set(session: Session, note_id: str, **values: Any) -> None:
    session.execute(update(_T).where(_T.c.id == note_id).values(**values))


# -- what the CLI and the gauges read ------------------------------------------------------

def undelivered(session: Session) -> list[dict[str, Any]]:
    """Every notification not delivered, oldest first, without its message or patient:
    ``state`` is ``pending`` (will be tried) or ``failed`` (no more attempts)."""
    rows = session.execute(select(_T).where(_T.c.delivered_at.is_(None))
                           .order_by(_T.c.created_at, _T.c.id))
    return [{"id": r.id, "alert_id": r.alert_id, "route": r.route, "rule": r.rule,
             "kind": r.kind, "state": "failed" if r.next_attempt_at is None else "pending",
             "created_at": r.created_at, "attempts": r.attempts,
             "next_attempt_at": r.next_attempt_at, "last_error": r.last_error} for r in rows]


def undelivered_counts(session: Session) -> dict[tuple[str, str], int]:
    """Notifications not delivered, per (route, state), for the gauge."""
    failed = _T.c.next_attempt_at.is_(None)
    rows = session.execute(select(_T.c.route, failed, func.count())
                           .where(_T.c.delivered_at.is_(None)).group_by(_T.c.route, failed))
    return {(route, "failed" if is_failed else "pending"): n for route, is_failed, n in rows}


def retry_failed(session: Session, now: datetime) -> int:
    """Give every failed notification a new round of attempts from ``now``; how many."""
    result = session.execute(update(_T).where(_T.c.delivered_at.is_(None),
                                              _T.c.next_attempt_at.is_(None))
                             .values(attempts=0, next_attempt_at=now))
    return int(result.rowcount)
