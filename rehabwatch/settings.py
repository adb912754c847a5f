"""The settings tree: read once from the environment at the edge (the CLI, the worker, the
API), then passed down. Nothing else in rehabwatch reads the environment.

:data:`VARIABLES` names every variable with the field it sets and what it allows; a bad
value is one :class:`ConfigError` naming the variable and what is allowed. The alert rules'
thresholds come from the TOML file named by ``RW_RULES_FILE`` (:func:`rule_params_from`):
any subset of :class:`alerts.rule_params.RuleParams`, the rest keeps its default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.notifiers import ROUTES
from alerts.rule_params import DEFAULT_PARAMS, RuleParams
from processors.stream_settings import StreamSettings, TopicConfig
from schemas.errors import ConfigError


@dataclass(frozen=True)
class NotifySettings:
    """Notification channels (the variables are in :data:`VARIABLES`)."""

    smtp_url: str = field(default="", repr=False)
    email_from: str = "rehabwatch@localhost"
    #: recipients of each route's e-mail, by route
    email_to: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    webhook_routes: tuple[str, ...] = ROUTES
    timeout_s: float = 15.0
    digest_at: time = time(7, 0)
    digest_tz: str = "UTC"
    max_attempts: int = 10


@dataclass(frozen=True)
class ApiSettings:
    """The HTTP API (``rehabwatch api`` and ``up``): where it listens, staff sessions and
    sign-in throttling (the variables are in :data:`VARIABLES`)."""

    host: str = "127.0.0.1"
    port: int = 8000
    session_idle_s: float = 30 * 60.0
    session_max_s: float = 12 * 3600.0
    sign_in_max_failures: int = 5
    sign_in_window_s: float = 15 * 60.0


@dataclass(frozen=True)
class Settings:
    """Everything rehabwatch is configured with."""

    database_url: str = "sqlite:///rehabwatch.db"
    max_upload_mb: int = 200
    rules_file: str = ""
    rules: RuleParams = DEFAULT_PARAMS
    stream: StreamSettings = field(default_factory=lambda: StreamSettings(kafka_url=""))
    notify: NotifySettings = field(default_factory=NotifySettings)
    api: ApiSettings = field(default_factory=ApiSettings)

    @property
    def kafka_url(self) -> str:
        return self.stream.kafka_url

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


# -- value parsers: text -> value, ValueError with what is allowed --------------------------

def _whole(low: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if value < low:
            raise ValueError
        return value
    parse.__doc__ = f"a whole number of at least {low}"
    return parse


def _seconds(raw: str) -> float:
    """a number of seconds above 0"""
    value = float(raw)
    if not 0 < value < float("inf"):
        raise ValueError
    return value


def _routes(raw: str) -> tuple[str, ...]:
    """comma-separated routes out of clinician, digest, patient, monitoring"""
    routes = _csv(raw)
    if not routes or set(routes) - set(ROUTES):
        raise ValueError
    return routes


def _csv(raw: str) -> tuple[str, ...]:
    """a comma-separated list"""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _clock(raw: str) -> time:
    """a time of day, HH:MM"""
    return time.fromisoformat(raw)


def _zone(raw: str) -> str:
    """an IANA time zone such as Europe/London"""
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError from None
    return raw


def _level(raw: str) -> str:
    """one of debug, info, warning, error"""
    if raw.lower() not in ("debug", "info", "warning", "error"):
        raise ValueError
    return raw.lower()


def _text(raw: str) -> str:
    """any text"""
    return raw


@dataclass(frozen=True)
class Variable:
    """One environment variable: the dotted field of :class:`Settings` it sets, and how its
    text is read (the parser's docstring says what is allowed)."""

    name: str
    path: str
    parse: Callable[[str], Any] = _text


VARIABLES: tuple[Variable, ...] = (
    Variable("RW_DATABASE_URL", "database_url"),
    Variable("RW_MAX_UPLOAD_MB", "max_upload_mb", _whole(1)),
    Variable("RW_RULES_FILE", "rules_file"),
    Variable("RW_KAFKA_URL", "stream.kafka_url"),
    Variable("RW_STREAM_APP_ID", "stream.app_id"),
    *(Variable(f"RW_TOPIC_{f.name.upper()}", f"stream.topics.{f.name}",
               _whole(1) if f.type == "int" else _text)
      for f in dataclasses.fields(TopicConfig)),
    Variable("RW_WORKER_WEB_HOST", "stream.web_host"),
    Variable("RW_WORKER_WEB_PORT", "stream.web_port", _whole(1)),
    Variable("RW_STREAM_BATCH_MAX", "stream.batch_max", _whole(1)),
    Variable("RW_STREAM_BATCH_WITHIN_S", "stream.batch_within_s", _seconds),
    Variable("RW_STREAM_COMMIT_INTERVAL_S", "stream.commit_interval_s", _seconds),
    Variable("RW_KAFKA_SESSION_TIMEOUT_S", "stream.session_timeout_s", _seconds),
    Variable("RW_MISSING_DATA_SCAN_S", "stream.missing_data_scan_s", _seconds),
    Variable("RW_GAUGES_EVERY_S", "stream.gauges_every_s", _seconds),
    Variable("RW_NOTIFY_RETRY_S", "stream.notify_retry_s", _seconds),
    Variable("RW_STREAM_DATADIR", "stream.datadir"),
    Variable("RW_LOG_LEVEL", "stream.loglevel", _level),
    Variable("RW_NOTIFY_SMTP_URL", "notify.smtp_url"),
    Variable("RW_NOTIFY_EMAIL_FROM", "notify.email_from"),
    *(Variable(f"RW_NOTIFY_EMAIL_{route.upper()}", f"notify.email_to.{route}", _csv)
      for route in ROUTES),
    Variable("RW_NOTIFY_WEBHOOK_URL", "notify.webhook_url"),
    Variable("RW_NOTIFY_WEBHOOK_SECRET", "notify.webhook_secret"),
    Variable("RW_NOTIFY_WEBHOOK_ROUTES", "notify.webhook_routes", _routes),
    Variable("RW_NOTIFY_TIMEOUT_S", "notify.timeout_s", _seconds),
    Variable("RW_NOTIFY_DIGEST_AT", "notify.digest_at", _clock),
    Variable("RW_NOTIFY_DIGEST_TZ", "notify.digest_tz", _zone),
    Variable("RW_NOTIFY_MAX_ATTEMPTS", "notify.max_attempts", _whole(1)),
    Variable("RW_API_HOST", "api.host"),
    Variable("RW_API_PORT", "api.port", _whole(0)),
    Variable("RW_SESSION_IDLE_S", "api.session_idle_s", _seconds),
    Variable("RW_SESSION_MAX_S", "api.session_max_s", _seconds),
    Variable("RW_SIGN_IN_MAX_FAILURES", "api.sign_in_max_failures", _whole(1)),
    Variable("RW_SIGN_IN_WINDOW_S", "api.sign_in_window_s", _seconds),
)


def load(env: Mapping[str, str] = os.environ) -> Settings:
    """The settings from ``env``: defaults, overridden by each variable that is set and not
    empty; :class:`ConfigError` for the first value that cannot work."""
    values: dict[str, Any] = {}
    for var in VARIABLES:
        raw = env.get(var.name, "").strip()
        if raw:
            try:
                values[var.path] = var.parse(raw)
            except ValueError:
                allowed = (var.parse.__doc__ or "").strip()
                raise ConfigError(f"{var.name}={raw!r} is not {allowed}") from None
    settings: Settings = _build(Settings(), values, "")
    if settings.rules_file:
        settings = dataclasses.replace(settings, rules=rule_params_from(Path(settings.rules_file)))
    return settings


def _build(obj: Any, values: Mapping[str, Any], prefix: str) -> Any:
    """``obj`` (a frozen dataclass) with the dotted ``values`` under ``prefix`` set."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        path = prefix + f.name
        current = getattr(obj, f.name)
        if path in values:
            changes[f.name] = values[path]
        elif dataclasses.is_dataclass(current):
            changes[f.name] = _build(current, values, path + ".")
        elif isinstance(current, Mapping):
            found = {k[len(path) + 1:]: v for k, v in values.items() if k.startswith(path + ".")}
            changes[f.name] = {**current, **found}
    return dataclasses.replace(obj, **changes)


def rule_params_from(path: Path) -> RuleParams:
    """The rule parameters of a TOML file (RW_RULES_FILE): tables and keys as the fields of
    :class:`RuleParams` (``[underactivity]`` ``persistence_valid_days = 4``; durations in
    hours, as ``sync_gap_hours``); what the file leaves out keeps its default."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"RW_RULES_FILE {str(path)!r} cannot be read: {exc}") from None
    try:
        params: RuleParams = _overlay(DEFAULT_PARAMS, doc, "")
        return params
    except ValueError as exc:  # a combination RuleParams itself refuses
        raise ConfigError(f"RW_RULES_FILE {str(path)!r}: {exc}") from None


def _overlay(obj: Any, doc: Mapping[str, Any], prefix: str) -> Any:
    """``obj`` (a dataclass of parameters) with the values of ``doc``, each checked against
    the type of the default it replaces."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in doc.items():
        name = key.removesuffix("_hours") if key.endswith("_hours") else key
        if name not in fields:
            raise ConfigError(f"RW_RULES_FILE: no parameter {prefix + key!r}; known: "
                              f"{', '.join(sorted(prefix + n for n in fields))}")
        current = getattr(obj, name)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"RW_RULES_FILE: {prefix + key} must be a table")
            changes[name] = _overlay(current, value, f"{prefix}{key}.")
        elif isinstance(current, timedelta):
            changes[name] = timedelta(hours=_number(value, prefix + key, float))
        else:
            changes[name] = _number(value, prefix + key, type(current))
    return dataclasses.replace(obj, **changes)


def _number(value: Any, where: str, kind: type) -> Any:
    """``value`` as a ``kind`` (int or float) of at least 0, or ConfigError naming ``where``."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and (kind is float or isinstance(value, int)) and 0 <= value < float("inf"))
    if not ok:
        wanted = "a whole number of at least 0" if kind is int else "a number of at least 0"
        raise ConfigError(f"RW_RULES_FILE: {where} = {value!r} is not {wanted}")
    return kind(value)
