"""Settings, read once from the environment into a frozen object."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return default if raw in (None, "") else int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Every field names the environment variable it comes from."""

    #: RW_DATABASE_URL: SQLAlchemy URL of the system of record.
    database_url: str = field(default_factory=lambda: os.environ.get(
        "RW_DATABASE_URL", "sqlite:///rehabwatch.db"))
    #: RW_KAFKA_URL: Faust broker URL (kafka://host:port); empty = embedded broker / batch.
    kafka_url: str = field(default_factory=lambda: os.environ.get("RW_KAFKA_URL", ""))
    #: RW_MAX_UPLOAD_MB: uploads above this size are rejected before parsing.
    max_upload_mb: int = field(default_factory=lambda: _env_int("RW_MAX_UPLOAD_MB", 200))

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def load() -> Settings:
    return Settings()
