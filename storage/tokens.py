"""API tokens: stored as the SHA-256 of the token, never the token itself."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.api_tables import TokenRow


def add(session: Session, token_id: str, secret_sha256: str, role: str,
        patient_id: str | None, teams: Sequence[str], label: str, created_by: str,
        now: datetime, expires_at: datetime | None) -> TokenRow:
    row = TokenRow(id=token_id, secret_sha256=secret_sha256, role=role, patient_id=patient_id,
                   teams=sorted(set(teams)), label=label, created_by=created_by,
                   created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def by_hash(session: Session, secret_sha256: str) -> TokenRow | None:
    return session.scalar(select(TokenRow).where(TokenRow.secret_sha256 == secret_sha256))


def get(session: Session, token_id: str) -> TokenRow | None:
    return session.get(TokenRow, token_id)


def revoke(session: Session, row: TokenRow, now: datetime) -> None:
    row.revoked_at = now
    session.flush()


def listed(session: Session) -> list[TokenRow]:
    return list(session.scalars(select(TokenRow).order_by(TokenRow.created_at, TokenRow.id)))
