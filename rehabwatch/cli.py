"""The ``rehabwatch`` command line (contract in the README; keep it stable).

Handlers parse arguments, call :class:`rehabwatch.service.Service` and print. With ``--json``
the output is one JSON document on stdout; errors go to stderr with exit code 1 (2 for usage
errors, from argparse). Only :class:`schemas.errors.RehabwatchError` is caught: an operator's
mistake is one clear line, a bug is a traceback. Each command imports what it needs, so
``rehabwatch --help`` starts without the database, the parsers, the broker client or numpy.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.registry import FORMATS
from schemas.alert_records import AlertStatus
from schemas.errors import RehabwatchError, UsageError
from schemas.protocol import procedures

if TYPE_CHECKING:
    from ingest.upload import UploadOutcome
    from rehabwatch.service import Service
    from rehabwatch.settings import Settings
    from schemas.alert_records import Alert

Handler = Callable[[argparse.Namespace, "Settings"], int]

def emit(args: argparse.Namespace, doc: Any, text: str) -> None:
    """Print ``doc`` as JSON with --json, else ``text``."""
    print(json.dumps(doc, indent=2, default=str) if getattr(args, "json", False) else text)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def _service(settings: Settings) -> Service:
    from rehabwatch.service import Service

    return Service(settings)


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from storage import database

    database.upgrade(settings.database_url)
    url = database.safe_url(settings.database_url)
    emit(args, {"database": url, "schema": "up to date"}, f"database ready: {url}")
    return 0


def cmd_patient_add(args: argparse.Namespace, settings: Settings) -> int:
    overrides: dict[str, int] = {}
    if args.steps_target:
        overrides["steps_low"] = args.steps_target[0]
        if args.steps_target[1] is not None:
            overrides["steps_high"] = args.steps_target[1]
    _service(settings).add_patient(args.id, args.procedure, args.start_date, args.tz,
                                   args.team, overrides)
    emit(args, {"patient": args.id, "created": True}, f"patient {args.id} added")
    return 0


def cmd_patient_show(args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch import views

    doc = views.patient_doc(_service(settings).patient(args.id, args.as_of))
    emit(args, doc, views.patient_text(doc))
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.base import ParseContext

    service, id_map = _service(settings), _id_map(args.id_map)
    results, failed = [], 0
    for path in _files(args.paths):
        ctx = ParseContext(args.patient, "", path.name, id_map, date_order=args.date_order)
        with path.open("rb") as stream:
            out = service.ingest(stream, ctx, args.format)
        doc = _upload_doc(path, out)
        bad = out.status == "rejected" or bool(out.publish_error)
        failed += bad
        results.append(doc)
        if not args.json:
            print(_ingest_line(doc), file=sys.stderr if bad else sys.stdout)
    if args.json:
        print(json.dumps({"uploads": results}, indent=2))
    return 1 if failed else 0


def _upload_doc(path: Path, out: UploadOutcome) -> dict[str, Any]:
    if out.status == "rejected":
        return {"file": str(path), "upload_id": out.upload_id, "status": "rejected",
                "reason": out.reason}
    doc = {"file": str(path), "upload_id": out.upload_id, "status": out.status,
           "format": out.format, "reason": out.reason, "records": out.records,
           "grids": len(out.grids), "steps": round(out.steps), "skipped": out.skipped,
           "days_changed": len(out.changed_days), "published": out.published}
    if out.publish_error:
        doc["publish_error"] = out.publish_error
    return doc


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
            raise UsageError(f"{raw}: no such file or folder")
    return out


def _id_map(pairs: Sequence[str] | None) -> dict[str, str]:
    """``SUBJECT=PATIENT`` pairs, or a CSV file of such pairs."""
    out: dict[str, str] = {}
    for item in pairs or ():
        lines = Path(item).read_text().splitlines() if Path(item).is_file() else [item]
        for line in filter(None, (ln.strip() for ln in lines)):
            subject, sep, patient = line.replace(",", "=", 1).partition("=")
            if not sep:
                raise UsageError(f"--id-map {item}: expected SUBJECT=PATIENT pairs")
            out[subject.strip()] = patient.strip()
    return out


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch import views

    days = views.summary_docs(_service(settings).summaries(args.id, args.date_from,
                                                           args.date_to))
    emit(args, {"patient": args.id, "days": days}, views.summary_text(days))
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    counts = _service(settings).evaluate_all(args.as_of)
    emit(args, counts, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch import views

    docs = [views.alert_doc(a) for a in _service(settings).alerts(args.patient, args.status)]
    emit(args, {"alerts": docs}, views.alerts_text(docs))
    return 0


def cmd_alert(args: argparse.Namespace, settings: Settings) -> int:
    from alerts import lifecycle
    from rehabwatch import views

    now = datetime.now(timezone.utc)
    actions: dict[str, Callable[[Alert], Alert]] = {
        "ack": lambda a: lifecycle.acknowledge(a, args.by, args.reason, now),
        "resolve": lambda a: lifecycle.resolve(a, args.by, args.reason, now),
        "snooze": lambda a: lifecycle.snooze(a, _snooze_until(args, now), args.by,
                                             args.reason, now),
    }
    alert = _service(settings).act(args.alert_id, actions[args.action])
    emit(args, views.alert_doc(alert), f"alert {alert.id} is {alert.status.value}")
    return 0


def _snooze_until(args: argparse.Namespace, now: datetime) -> date:
    if args.until is None and args.days is None:
        raise UsageError("snooze needs --days N (1, 3 or 7) or --until YYYY-MM-DD")
    return args.until or (now.date() + timedelta(days=args.days))


def cmd_notify(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver the due notifications once (after ``evaluate``), or list undelivered ones."""
    import dataclasses

    from rehabwatch import delivery
    from storage import database, outbox

    if args.status:
        with database.session_scope(settings.database_url) as session:
            rows = outbox.undelivered(session)
        emit(args, {"notifications": rows}, "\n".join(map(_notification_line, rows))
             or "every notification delivered")
        return 0
    channels = delivery.channels_from(settings.notify)
    print(channels.describe(), file=sys.stderr)
    now = datetime.now(timezone.utc)
    requeued = 0
    if args.retry:
        with database.session_scope(settings.database_url) as session:
            requeued = outbox.retry_failed(session, now)
    report = delivery.deliver_pending(settings.database_url, channels, now)
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
        raise UsageError("RW_KAFKA_URL is not set: name a Kafka cluster, or run `rehabwatch up` "
                         "for the embedded broker with a worker")
    run_worker(settings)
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from rehabwatch.stack import run_up

    if args.demo:
        from rehabwatch.demo import enrol_demo, stack_settings

        return run_up(stack_settings(settings), enrol_demo)
    return run_up(settings)


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
    su = add("summary", cmd_summary, "stored daily summaries of a patient (what the rules judged)")
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
    from rehabwatch.cli_accounts import register

    register(sub, _adder, iso_date, emit)
    return p


def _adder(sub: Any) -> Callable[[str, Handler, str], argparse.ArgumentParser]:
    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text,
                                                         description=help_text)
        parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
        parser.set_defaults(handler=handler)
        return parser
    return add


#: Commands that create or upgrade the schema themselves.
SETS_UP_SCHEMA: frozenset[Handler] = frozenset({cmd_init, cmd_up})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from rehabwatch.settings import load
        from storage import database

        settings = load()
        if args.handler not in SETS_UP_SCHEMA:
            database.check_schema(settings.database_url)
        return int(args.handler(args, settings))
    except RehabwatchError as exc:
        print(f"rehabwatch: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
