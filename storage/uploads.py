"""The upload log: every file received, with its content hash, format, status (``stored``,
``partial``, ``duplicate``, ``rejected``), counts and reason."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.tables import Upload

#: Longest file name kept (the column's size); longer names are cut.
FILENAME_MAX = 255


def previous_upload(session: Session, patient_id: str, digest: str) -> Upload | None:
    """The patient's earlier upload with the same content that wrote data, if any."""
    return session.scalar(select(Upload).where(
        Upload.patient_id == patient_id, Upload.sha256 == digest,
        Upload.status.in_(("stored", "partial"))).limit(1))


def add_upload(session: Session, patient_id: str, filename: str, digest: str, size: int,
               fmt: str | None, status: str, reason: str = "", records: int = 0,
               grids: int = 0, steps: float = 0.0,
               skipped: Mapping[str, int] | None = None) -> int:
    """Log one upload; its id."""
    upload = Upload(patient_id=patient_id, filename=filename[:FILENAME_MAX], sha256=digest,
                    size_bytes=size, format=fmt, status=status, reason=reason,
                    records=records, grids=grids, steps=steps, skipped=dict(skipped or {}))
    session.add(upload)
    session.flush()
    return upload.id


def listed(session: Session, patient_id: str, limit: int, offset: int) -> list[Upload]:
    """A page of the patient's uploads, newest first."""
    return list(session.scalars(select(Upload).where(Upload.patient_id == patient_id)
                                .order_by(Upload.received_at.desc(), Upload.id.desc())
                                .limit(limit).offset(offset)))
