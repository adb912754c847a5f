"""Staff users (clinician, monitoring, admin) and their teams."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.api_tables import SessionRow, UserRow, UserTeamRow


def get(session: Session, name: str) -> UserRow | None:
    return session.scalar(select(UserRow).where(UserRow.name == name))


def by_id(session: Session, user_id: int) -> UserRow | None:
    return session.get(UserRow, user_id)


def add(session: Session, name: str, role: str, password_hash: str, teams: Sequence[str],
        now: datetime) -> UserRow:
    user = UserRow(name=name, role=role, password_hash=password_hash, created_at=now,
                   teams=[UserTeamRow(team=t) for t in sorted(set(teams))])
    session.add(user)
    session.flush()
    return user


def set_password_hash(session: Session, user: UserRow, password_hash: str) -> None:
    """A rehash with today's argon2 parameters (after a sign-in with older ones)."""
    user.password_hash = password_hash
    session.flush()


def disable(session: Session, user: UserRow, now: datetime) -> int:
    """Disable ``user`` and revoke their open sessions; how many sessions were revoked."""
    user.disabled_at = now
    rows = list(session.scalars(select(SessionRow).where(SessionRow.user_id == user.id,
                                                         SessionRow.revoked_at.is_(None))))
    for row in rows:
        row.revoked_at = now
    session.flush()
    return len(rows)


def listed(session: Session) -> list[UserRow]:
    return list(session.scalars(select(UserRow).order_by(UserRow.name)))
