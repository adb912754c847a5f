"""The ``rehabwatch`` command line (contract in the README; keep it stable).

Handlers parse arguments, open one session, call the domain or ingest layer and print. With
``--json`` the output is one JSON document on stdout; errors go to stderr with exit code 1
(2 for usage errors, from argparse).
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiokafka.errors import KafkaError

from ingest.base import ParseContext
from ingest.errors import IngestError
from ingest.registry import FORMATS
from ingest.upload import ingest_bytes, record_rejection
from alerts import lifecycle
from alerts.lifecycle import AlertError
from rehabwatch import alerting, notify, reports
from storage import database
from rehabwatch.settings import Settings, load
from schemas.alert_records import Alert, AlertStatus
from schemas.daygrid import DayGrid
from storage.tables import Patient
from schemas.protocol import procedures

Handler = Callable[[argparse.Namespace, Settings], int]


class CliError(Exception):
    """A user error: printed to stderr, exit code 1."""


def emit(args: argparse.Namespace, doc: Any, text: str) -> None:
    """Print ``doc`` as JSON with --json, else ``text``."""
    print(json.dumps(doc, indent=2, default=str) if getattr(args, "json", False) else text)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IANA time zone "
                                         "(e.g. Europe/London)") from None
    return text


def steps_range(text: str) -> tuple[int, int | None]:
    low, _, high = text.partition("-")
    try:
        lo, hi = int(low), (int(high) if high else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LOW-HIGH, e.g. 3500-5000") from None
    if lo < 0 or (hi is not None and hi < lo):
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= LOW <= HIGH")
    return lo, hi


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    database.upgrade(settings.database_url)
    emit(args, {"database": _safe_url(settings.database_url), "schema": "up to date"},
         f"database ready: {_safe_url(settings.database_url)}")
    return 0


def cmd_patient_add(args: argparse.Namespace, settings: Settings) -> int:
    overrides: dict[str, int] = {}
    if args.steps_target:
        overrides["steps_low"] = args.steps_target[0]
        if args.steps_target[1] is not None:
            overrides["steps_high"] = args.steps_target[1]
    with database.session_scope(settings.database_url) as session:
        if session.get(Patient, args.id) is not None:
            raise CliError(f"patient {args.id} already exists")
        session.add(Patient(id=args.id, team=args.team, procedure=args.procedure,
                            start_date=args.start_date, tz=args.tz, overrides=overrides))
    emit(args, {"patient": args.id, "created": True}, f"patient {args.id} added")
    return 0


def cmd_patient_show(args: argparse.Namespace, settings: Settings) -> int:
    with database.session_scope(settings.database_url) as session:
        doc = reports.patient_doc(session, args.id, args.as_of)
    emit(args, doc, reports.patient_text(doc))
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    ctx = ParseContext(args.patient, "", id_map=_id_map(args.id_map), date_order=args.date_order)
    results, failed = [], 0
    for path in _files(args.paths):
        doc = _ingest_one(path, ctx, args.format, settings)
        bad = doc["status"] == "rejected" or "publish_error" in doc
        failed += bad
        results.append(doc)
        if not args.json:
            print(_ingest_line(doc), file=sys.stderr if bad else sys.stdout)
    if args.json:
        print(json.dumps({"uploads": results}, indent=2))
    return 1 if failed else 0


def _ingest_one(path: Path, ctx: ParseContext, fmt: str, settings: Settings) -> dict[str, Any]:
    ctx = ParseContext(ctx.patient_id, "", path.name, ctx.id_map, date_order=ctx.date_order)
    data = path.read_bytes()
    try:
        with database.session_scope(settings.database_url) as session:
            out = ingest_bytes(session, data, ctx, fmt, settings.max_upload_bytes)
    except IngestError as exc:
        with database.session_scope(settings.database_url) as session:
            upload_id = record_rejection(session, ctx, data, None if fmt == "auto" else fmt,
                                         str(exc))
        return {"file": str(path), "upload_id": upload_id, "status": "rejected",
                "reason": str(exc)}
    doc = {"file": str(path), "upload_id": out.upload_id, "status": out.status,
           "format": out.format, "reason": out.reason, "records": out.records,
           "grids": len(out.grids), "steps": round(out.steps), "skipped": out.skipped,
           "days_changed": len(out.changed_days), "published": 0}
    if settings.kafka_url:
        doc.update(_publish(out.grids, settings))
    return doc


def _publish(grids: Sequence[DayGrid], settings: Settings) -> dict[str, Any]:
    """Hand stored grids to the stream (``RW_KAFKA_URL`` set); the upload stands either way,
    and a broker that cannot be reached is reported with the way to re-send."""
    from rehabwatch.publish import publish_grids

    try:
        return {"published": publish_grids(settings.kafka_url, grids)}
    except KafkaError as exc:
        return {"publish_error": f"stored, but not published to {settings.kafka_url} ({exc}); "
                                 "the worker will not see it until re-sent: run `rehabwatch "
                                 "evaluate`, or ingest the file again once the broker is back"}


def _ingest_line(doc: dict[str, Any]) -> str:
    if doc["status"] == "rejected":
        return f"rejected {doc['file']}: {doc['reason']}"
    tail = f" ({doc['reason']})" if doc["reason"] else ""
    tail += f"; {doc['publish_error']}" if "publish_error" in doc else ""
    return (f"{doc['status']} {doc['file']} as {doc['format']}: {doc['grids']} day grids, "
            f"{doc['steps']:,} steps, {doc['days_changed']} days changed{tail}")


def _files(paths: Sequence[str]) -> list[Path]:
    """Files named, and the files inside folders named (sorted, hidden ones left out)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            out.append(path)
        else:
            raise CliError(f"{raw}: no such file or folder")
    return out


def _id_map(pairs: Sequence[str]) -> dict[str, str]:
    """``SUBJECT=PATIENT`` pairs, or a CSV file of such pairs."""
    out: dict[str, str] = {}
    for item in pairs or ():
        lines = Path(item).read_text().splitlines() if Path(item).is_file() else [item]
        for line in filter(None, (ln.strip() for ln in lines)):
            subject, sep, patient = line.replace(",", "=", 1).partition("=")
            if not sep:
                raise CliError(f"--id-map {line!r}: expected SUBJECT=PATIENT")
            out[subject.strip()] = patient.strip()
    return out


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    with database.session_scope(settings.database_url) as session:
        days = reports.summaries(session, args.id, args.date_from, args.date_to)
    emit(args, {"patient": args.id, "days": days}, reports.summary_text(days))
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    with database.session_scope(settings.database_url) as session:
        counts = alerting.evaluate_all(session, args.as_of)
    emit(args, counts, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    with database.session_scope(settings.database_url) as session:
        docs = reports.alerts(session, args.patient, args.status)
    emit(args, {"alerts": docs}, reports.alerts_text(docs))
    return 0


def cmd_alert(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(timezone.utc)
    actions: dict[str, Callable[[Alert], Alert]] = {
        "ack": lambda a: lifecycle.acknowledge(a, args.by, args.reason, now),
        "resolve": lambda a: lifecycle.resolve(a, args.by, args.reason, now),
        "snooze": lambda a: lifecycle.snooze(a, _snooze_until(args, now), args.by,
                                             args.reason, now),
    }
    with database.session_scope(settings.database_url) as session:
        alert = alerting.act(session, args.alert_id, actions[args.action])
    doc = reports.alert_doc(alert)
    emit(args, doc, f"alert {alert.id} is {alert.status.value}")
    return 0


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver the due notifications once (after ``evaluate``), or list undelivered ones."""
    if args.status:
        with database.session_scope(settings.database_url) as session:
            rows = notify.undelivered(session)
        emit(args, {"notifications": rows}, "\n".join(map(_notification_line, rows))
             or "every notification delivered")
        return 0
    channels = notify.NotifySettings.from_env().channels()
    print(channels.describe(), file=sys.stderr)
    now = datetime.now(timezone.utc)
    requeued = 0
    if args.retry:
        with database.session_scope(settings.database_url) as session:
            requeued = notify.retry_failed(session, now)
    report = notify.deliver_pending(settings.database_url, channels, now)
    doc = {"requeued": requeued, **dataclasses.asdict(report)}
    emit(args, doc, ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in doc.items()))
    return 1 if report.retrying or report.failed else 0


def _notification_line(row: dict[str, Any]) -> str:
    when = (f"next attempt {row['next_attempt_at']:%Y-%m-%d %H:%M} UTC"
            if row["next_attempt_at"] else "no attempt left")
    error = f": {row['last_error']}" if row["last_error"] else ""
    return (f"{row['id']} {row['state']} route {row['route']}, {row['rule']} ({row['kind']}), "
            f"alert {row['alert_id']}, {row['attempts']} attempts, {when}{error}")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch.worker import run_worker

    if not settings.kafka_url:
        raise CliError("RW_KAFKA_URL is not set: name a Kafka cluster, or run `rehabwatch up` "
                       "for the embedded broker with a worker")
    run_worker()
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch.stack import run_up

    return run_up(demo=args.demo)


def _snooze_until(args: argparse.Namespace, now: datetime) -> date:
    if args.until is None and args.days is None:
        raise CliError("snooze needs --days N (1, 3 or 7) or --until YYYY-MM-DD")
    return args.until or (now.date() + timedelta(days=args.days))


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rehabwatch", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    add = _adder(sub)
    add("init", cmd_init, "create or upgrade the database schema")
    patient = sub.add_parser("patient", help="add or show a patient").add_subparsers(
        dest="patient_command", required=True)
    pa = _adder(patient)("add", cmd_patient_add, "add a patient and their care plan")
    pa.add_argument("id")
    pa.add_argument("--procedure", required=True, choices=sorted(procedures()))
    pa.add_argument("--start-date", required=True, type=iso_date,
                    help="surgery or programme start (YYYY-MM-DD)")
    pa.add_argument("--tz", required=True, type=zone, help="IANA zone, e.g. Europe/London")
    pa.add_argument("--steps-target", type=steps_range, help="override: LOW-HIGH daily steps")
    pa.add_argument("--team", default="default", help="clinical team (default: default)")
    ps = _adder(patient)("show", cmd_patient_show, "a patient's plan and today's targets")
    ps.add_argument("id")
    ps.add_argument("--as-of", type=iso_date, help="targets as of this day (default: today)")
    ing = add("ingest", cmd_ingest, "store tracker exports as day grids")
    ing.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    ing.add_argument("--patient", required=True, help="patient the upload belongs to")
    ing.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    ing.add_argument("--id-map", action="append", metavar="SUBJECT=PATIENT|FILE",
                     help="map subject ids inside multi-subject files (Fitabase Id) to patients")
    ing.add_argument("--date-order", choices=["MDY", "DMY"],
                     help="date order for files whose dates cannot tell")
    su = add("summary", cmd_summary, "daily summaries of a patient")
    su.add_argument("id")
    su.add_argument("--from", dest="date_from", type=iso_date)
    su.add_argument("--to", dest="date_to", type=iso_date)
    ev = add("evaluate", cmd_evaluate, "recompute summaries and alerts in batch")
    ev.add_argument("--as-of", type=iso_date, help="last complete day (default: yesterday)")
    al = add("alerts", cmd_alerts, "list alerts")
    al.add_argument("--patient")
    al.add_argument("--status", choices=[s.value for s in AlertStatus])
    one = add("alert", cmd_alert, "acknowledge, snooze or resolve an alert")
    one.add_argument("action", choices=["ack", "snooze", "resolve"])
    one.add_argument("alert_id")
    one.add_argument("--reason", default="", help="why (required for snooze)")
    one.add_argument("--by", default=getpass.getuser(), help="who (default: your user name)")
    one.add_argument("--days", type=int, help="snooze length in days (1, 3 or 7)")
    one.add_argument("--until", type=iso_date, help="snooze until this day")
    no = add("notify", cmd_notify, "deliver the notifications due, or list undelivered ones")
    no.add_argument("--status", action="store_true",
                    help="list undelivered notifications (no message, no patient) instead")
    no.add_argument("--retry", action="store_true",
                    help="first give failed notifications a new round of attempts")
    add("worker", cmd_worker, "run a stream worker against RW_KAFKA_URL (blocks)")
    up = add("up", cmd_up, "embedded broker (unless RW_KAFKA_URL) and a worker; Ctrl-C stops")
    up.add_argument("--demo", action="store_true", help="also publish the demo cohort's grids")
    return p


def _adder(sub: Any) -> Callable[[str, Handler, str], argparse.ArgumentParser]:
    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        parser.set_defaults(handler=handler)
        return parser
    return add


#: Commands that create or upgrade the schema themselves.
SETS_UP_SCHEMA: frozenset[Handler] = frozenset({cmd_init, cmd_up})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load()
    try:
        if args.handler not in SETS_UP_SCHEMA and (why := database.schema_problem(settings.database_url)):
            raise CliError(f"{why} (RW_DATABASE_URL is {_safe_url(settings.database_url)})")
        return args.handler(args, settings)
    except (CliError, IngestError, reports.NotFound, LookupError, AlertError,
            notify.NotifyConfigError) as exc:
        print(f"rehabwatch: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
