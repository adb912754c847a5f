"""What the stream agents report, and the counts their gauges show: the types the composition
root implements (:class:`rehabwatch.metrics.PrometheusSensors`) and fills
(:meth:`rehabwatch.service.Service.gauges`), apart from Faust so neither needs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from schemas.alert_records import AlertEvent


@dataclass(frozen=True)
class Gauges:
    """Counts from the system of record for the gauges: open alerts by (rule, severity),
    patients, undelivered notifications by (route, state)."""

    open_alerts: Mapping[tuple[str, str], int]
    patients: int
    undelivered: Mapping[tuple[str, str], int] = field(default_factory=dict)


class Sensors(Protocol):
    """What the agents report, handed to them as Faust hands its sensors
    (:class:`rehabwatch.metrics.PrometheusSensors` in production). Labels never name a
    patient."""

    def batch_done(self, agent: str, seconds: float) -> None: ...

    def processed(self, topic: str, messages: int) -> None: ...

    def dead_lettered(self, topic: str, stage: str) -> None: ...

    def consumer_lag(self, topic: str, messages: int) -> None: ...

    def alert_event(self, event: AlertEvent, lag_s: float | None) -> None: ...

    def gauges(self, counts: Gauges) -> None: ...

    def exposition(self) -> tuple[bytes, str]: ...
