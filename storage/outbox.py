"""The notification outbox (``notifications``): rows queued with their alert change
(:func:`storage.alerts.queue_notifications`), due at once (``next_attempt_at``), claimed by
a sender with a lease (compare-and-set, so two senders never take one row), and marked
delivered, to be retried, or failed (``next_attempt_at`` cleared)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.orm import Session

from storage.sql import one_of, rowcount
from storage.tables import AlertRow, NotificationRow, table_of

_T = table_of(NotificationRow)


def due(session: Session, now: datetime, alert_ids: Collection[str] | None,
        limit: int) -> list[Row[Any]]:
    """Rows due at ``now`` (of ``alert_ids`` only, if given), oldest first, with their
    alert's ``severity``."""
    query = (select(_T, AlertRow.severity).join(AlertRow, AlertRow.id == _T.c.alert_id)
             .where(_T.c.delivered_at.is_(None), _T.c.next_attempt_at <= now)
             .order_by(_T.c.next_attempt_at, _T.c.id).limit(limit))
    if alert_ids is not None:
        query = query.where(one_of(_T.c.alert_id, alert_ids))
    return list(session.execute(query))


def claim(session: Session, row: Row[Any], until: datetime) -> bool:
    """Take ``row`` for sending until ``until``; False when another sender took it first."""
    claimed = session.execute(update(_T).where(
        _T.c.id == row.id, _T.c.next_attempt_at == row.next_attempt_at,
        _T.c.delivered_at.is_(None)).values(next_attempt_at=until))
    return rowcount(claimed) == 1


def set_fields(session: Session, note_id: str, **values: Any) -> None:
    session.execute(update(_T).where(_T.c.id == note_id).values(**values))


def record(session: Session, note_ids: Collection[str], error: str | None, now: datetime,
           next_attempt: Callable[[int, datetime], datetime | None]) -> dict[str, int]:
    """Record one send of ``note_ids``: delivered (``error`` None), or failed and due again
    at ``next_attempt(attempts, now)`` (None: no attempt left). Counts ``delivered``,
    ``retrying`` and ``failed``."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    attempts = dict(session.execute(select(_T.c.id, _T.c.attempts).where(
        one_of(_T.c.id, note_ids))).all())
    for note_id, done in attempts.items():
        if error is None:
            set_fields(session, note_id, delivered_at=now, next_attempt_at=None,
                       attempts=done + 1)
            counts["delivered"] += 1
            continue
        retry_at = next_attempt(done + 1, now)
        set_fields(session, note_id, attempts=done + 1, last_error=error,
                   next_attempt_at=retry_at)
        counts["failed" if retry_at is None else "retrying"] += 1
    return counts


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
    return rowcount(result)
