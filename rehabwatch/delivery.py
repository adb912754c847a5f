"""Delivery of the notification outbox (:mod:`storage.outbox`) through the configured channels.

Rows are queued with their alert change (:func:`storage.alerts.queue_notifications`), due at once
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
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row

from alerts.notifiers import (ROUTES, DeliveryError, EmailNotifier, Notifier, Outgoing,
                              RetryPolicy, SmtpServer, WebhookNotifier, batch_id, next_digest,
                              parse_secret)
from rehabwatch import metrics
from rehabwatch.settings import NotifySettings
from schemas.alert_records import Notification
from schemas.errors import ConfigError
from storage import database, outbox

log = logging.getLogger(__name__)

#: How long a claimed row is left to its sender before another may take it: more than a
#: batch's sends can take (a timeout per channel).
LEASE = timedelta(minutes=5)


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


def channels_from(settings: NotifySettings) -> Channels:
    """The configured channels; :class:`ConfigError` if they cannot work."""
    try:
        zone = ZoneInfo(settings.digest_tz)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"RW_NOTIFY_DIGEST_TZ {settings.digest_tz!r} is not an IANA "
                          "zone") from exc
    return Channels([*_email(settings), *_webhook(settings)],
                    RetryPolicy(max_attempts=settings.max_attempts), settings.digest_at, zone)


def _email(settings: NotifySettings) -> list[Notifier]:
    recipients = {route: to for route, to in settings.email_to.items() if to}
    if not recipients:
        return []
    if not settings.smtp_url:
        raise ConfigError("RW_NOTIFY_EMAIL_* names recipients but RW_NOTIFY_SMTP_URL is not set")
    try:
        server = SmtpServer.from_url(settings.smtp_url, settings.timeout_s)
    except ValueError as exc:
        raise ConfigError(f"RW_NOTIFY_SMTP_URL: {exc}") from None
    return [EmailNotifier(server, settings.email_from, recipients)]


def _webhook(settings: NotifySettings) -> list[Notifier]:
    if not settings.webhook_url:
        return []
    if unknown := set(settings.webhook_routes) - set(ROUTES):
        raise ConfigError(f"RW_NOTIFY_WEBHOOK_ROUTES: no route {sorted(unknown)}; "
                          f"routes are {', '.join(ROUTES)}")
    try:
        key = parse_secret(settings.webhook_secret)
    except ValueError as exc:
        raise ConfigError(f"RW_NOTIFY_WEBHOOK_SECRET: {exc}") from None
    return [WebhookNotifier(settings.webhook_url, key, settings.webhook_routes,
                            settings.timeout_s)]


@dataclass
class Report:
    """What one :func:`deliver_pending` did, in notifications: delivered; failed and to be
    retried; failed for good (last attempt); failed for lack of a channel."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    no_channel: int = 0


def deliver_pending(database_url: str, channels: Channels, now: datetime,
                    alert_ids: Collection[str] | None = None,
                    limit: int = 1000) -> Report:
    """Deliver the notifications due at ``now`` (those of ``alert_ids`` only, if given; at most
    ``limit``) and record each outcome. Takes a URL, not a session: rows are claimed in one
    short transaction, and each batch's outcome recorded in its own, so no transaction stays
    open while a channel is waited on."""
    report = Report()
    with database.session_scope(database_url) as session:
        batches = _claim(session, outbox.due(session, now, alert_ids, limit), channels, now,
                         report)
    for batch in batches:
        error = _send(batch, channels.for_route(batch[0].note.route))
        with database.session_scope(database_url) as session:
            counts = outbox.record(session, [o.note.id for o in batch], error, now,
                                   channels.policy.next_attempt)
        report.delivered += counts["delivered"]
        report.retrying += counts["retrying"]
        report.failed += counts["failed"]
    return report


def _claim(session: Any, rows: Sequence[Row[Any]], channels: Channels, now: datetime,
           report: Report) -> list[list[Outgoing]]:
    """The batches to send now: each due row claimed, the digest route's together. Rows of a
    route without a channel are failed; digest rows not tried yet wait for the digest time."""
    single: list[list[Outgoing]] = []
    digest: list[Outgoing] = []
    for row in rows:
        if not channels.for_route(row.route):
            outbox.set_fields(session, row.id, next_attempt_at=None,
                              last_error=f"no channel configured for route {row.route}")
            report.no_channel += 1
            continue
        if row.route == "digest" and row.attempts == 0:
            slot = next_digest(row.created_at, channels.digest_at, channels.digest_zone)
            if slot > now:
                outbox.set_fields(session, row.id, next_attempt_at=slot)
                continue
        if outbox.claim(session, row, now + LEASE):  # else another sender has it
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
