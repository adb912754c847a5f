"""The production stream worker: the Faust agents of :mod:`processors.stream` wired to
:class:`rehabwatch.service.Service` and the notification channels (:mod:`rehabwatch.delivery`).

``rehabwatch worker`` calls :func:`run_worker`; ``python -m rehabwatch.worker worker`` does the
same (settings from the ``RW_*`` variables, :mod:`rehabwatch.settings`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from datetime import datetime

from alerts.notifiers import ROUTES
from processors.stream import Handlers
from processors.stream import run_worker as run_stream_worker
from rehabwatch import delivery
from rehabwatch.metrics import PrometheusSensors
from rehabwatch.service import Service
from rehabwatch.settings import Settings, load
from schemas.alert_records import AlertEvent
from schemas.errors import RehabwatchError
from storage.summary_cache import SummaryCache


def notify_alerts(database_url: str, channels: delivery.Channels,
                  events: Sequence[AlertEvent], now: datetime) -> None:
    """Deliver the due notifications of the events' alerts, if any event queued some (the
    retry timer delivers whatever else is due)."""
    alert_ids = {e.alert_id for e in events if e.notifies}
    if alert_ids:
        delivery.deliver_pending(database_url, channels, now, alert_ids=alert_ids)


def database_handlers(settings: Settings, channels: delivery.Channels) -> Handlers:
    """The real handlers: one :class:`Service` whose :class:`SummaryCache` is shared by the
    store and the evaluation (the process agent runs them one at a time), and notifications
    delivered through ``channels``."""
    service = Service(settings, SummaryCache())
    url = settings.database_url
    return Handlers(service.store_and_summarize, service.evaluate_checks, service.silent,
                    functools.partial(notify_alerts, url, channels),
                    functools.partial(delivery.deliver_pending, url, channels),
                    functools.partial(service.gauges, ROUTES))


def run_worker(settings: Settings) -> None:
    """Run the production worker until SIGTERM/SIGINT (blocks; exits the process). Refuses to
    start on notification settings that cannot work; states the routes no channel serves."""
    channels = delivery.channels_from(settings.notify)
    print(channels.describe(), file=sys.stderr, flush=True)
    run_stream_worker(settings.stream, database_handlers(settings, channels),
                      PrometheusSensors())


if __name__ == "__main__":
    if sys.argv[1:] != ["worker"]:
        sys.exit("usage: python -m rehabwatch.worker worker   (settings from RW_* variables)")
    try:
        run_worker(load())
    except RehabwatchError as exc:
        sys.exit(f"rehabwatch worker: {exc}")
