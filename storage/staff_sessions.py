"""Staff sign-in sessions (the cookie's hash, its CSRF token, when it was made and last
used) and the failed sign-ins counted to throttle guessing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from storage.api_tables import SessionRow, SignInFailureRow


def add(session: Session, secret_sha256: str, user_id: int, csrf_token: str,
        now: datetime) -> SessionRow:
    row = SessionRow(secret_sha256=secret_sha256, user_id=user_id, csrf_token=csrf_token,
                     created_at=now, last_seen_at=now)
    session.add(row)
    session.flush()
    return row


def get(session: Session, secret_sha256: str) -> SessionRow | None:
    return session.get(SessionRow, secret_sha256)


def touch(session: Session, row: SessionRow, now: datetime) -> None:
    row.last_seen_at = now
    session.flush()


def revoke(session: Session, row: SessionRow, now: datetime) -> None:
    row.revoked_at = now
    session.flush()


def record_failure(session: Session, user_name: str, address: str, now: datetime) -> None:
    session.add(SignInFailureRow(user_name=user_name, address=address, at=now))
    session.flush()


def failures_since(session: Session, user_name: str, address: str, since: datetime
                   ) -> tuple[int, int, datetime | None]:
    """Failed sign-ins since ``since``: for ``user_name``, from ``address``, and the oldest
    of them (when the throttle window starts to clear)."""
    recent = SignInFailureRow.at >= since
    by_user = session.scalar(select(func.count()).where(
        recent, SignInFailureRow.user_name == user_name)) or 0
    by_address = session.scalar(select(func.count()).where(
        recent, SignInFailureRow.address == address)) or 0
    oldest = session.scalar(select(func.min(SignInFailureRow.at)).where(
        recent, or_(SignInFailureRow.user_name == user_name,
                    SignInFailureRow.address == address)))
    return int(by_user), int(by_address), oldest


def clear_failures(session: Session, user_name: str, before: datetime) -> None:
    """Forget a user's failures once they sign in (and anyone's older than ``before``)."""
    session.execute(delete(SignInFailureRow).where(
        or_(SignInFailureRow.user_name == user_name, SignInFailureRow.at < before)))
