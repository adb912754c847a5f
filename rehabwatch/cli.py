"""The ``rehabwatch`` command line (contract in the README; keep it stable).

Handlers parse arguments, call :class:`rehabwatch.service.Service` and print. With ``--json``
the output is one JSON document on stdout; errors go to stderr with exit code 1 (2 for usage
errors, from argparse). Only :class:`schemas.errors.RehabwatchError` is caught: an operator's
mistake is one clear line, a bug is a traceback. Every id an argument names is checked by
:mod:`schemas.identifiers`, every date and length is bounded, and text that came from a user
or a file is printed through :func:`schemas.identifiers.printable`. Each command imports what
it needs, so ``rehabwatch --help`` starts without the database, the parsers, the broker
client or numpy.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.registry import FORMATS
from schemas.alert_records import AlertStatus
from schemas.errors import RehabwatchError, UsageError
from schemas.identifiers import checked_id, is_valid_id, printable
from schemas.protocol import procedures

if TYPE_CHECKING:
    from ingest.upload import UploadOutcome
    from rehabwatch.service import Service
    from rehabwatch.settings import Settings
    from schemas.alert_records import Alert

Handler = Callable[[argparse.Namespace, "Settings"], int]

#: Dates an argument may name: nothing a tracker recorded or a plan starts is outside, and
#: arithmetic on them (weeks since start, snooze ends) stays far from ``date.max``.
DATE_RANGE = (date(1970, 1, 1), date(2199, 12, 31))
#: Longest file an ``--id-map`` may name (bytes).
ID_MAP_MAX_BYTES = 1 << 20


def emit(args: argparse.Namespace, doc: Any, text: str) -> None:
    """Print ``doc`` as JSON with --json (valid JSON: a non-finite number is null), else
    ``text`` without control characters."""
    if getattr(args, "json", False):
        print(json.dumps(_finite(doc), indent=2, default=str, allow_nan=False))
    else:
        print("\n".join(printable(line, len(line) + 1) for line in text.split("\n")))


def _finite(doc: Any) -> Any:
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: _finite(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_finite(v) for v in doc]
    return doc


def iso_date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{printable(text, 40)!r} is not a date (YYYY-MM-DD)") from None
    if not DATE_RANGE[0] <= day <= DATE_RANGE[1]:
        raise argparse.ArgumentTypeError(f"{day} is outside {DATE_RANGE[0]}..{DATE_RANGE[1]}")
    return day


def identifier(what: str) -> Callable[[str], str]:
    """An argument type: an id following :data:`schemas.identifiers.ID_PATTERN`."""
    def check(text: str) -> str:
        try:
            return checked_id(text, what)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    check.__name__ = what  # argparse names the type in its messages
    return check


def snooze_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text, 40)!r} is not a number of days") \
            from None
    if not 1 <= days <= 366:
        raise argparse.ArgumentTypeError(f"{days} days: a snooze is 1 to 366 days at most")
    return days


def zone(text: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise argparse.ArgumentTypeError(f"{printable(text, 60)!r} is not an IANA time zone "
                                         "(e.g. Europe/London)") from None
    return text


#: Highest daily steps target an override may set (far above any rehab target).
STEPS_TARGET_MAX = 100_000


def steps_range(text: str) -> tuple[int, int | None]:
    low, _, high = text.partition("-")
    try:
        lo, hi = int(low), (int(high) if high else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(text, 40)!r} is not LOW-HIGH, "
                                         "e.g. 3500-5000") from None
    if lo < 0 or (hi is not None and hi < lo) or max(lo, hi or 0) > STEPS_TARGET_MAX:
        raise argparse.ArgumentTypeError(f"{lo}-{'' if hi is None else hi}: need "
                                         f"0 <= LOW <= HIGH <= {STEPS_TARGET_MAX:,}")
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
    from storage.database import DatabaseUnavailable

    service, id_map = _service(settings), _id_map(args.id_map)
    results, failed = [], 0
    for path in _files(args.paths):
        ctx = ParseContext(args.patient, "", path.name, id_map, date_order=args.date_order)
        try:
            with path.open("rb") as stream:
                doc = _upload_doc(path, service.ingest(stream, ctx, args.format))
        except (DatabaseUnavailable, OSError) as exc:  # this file; the next may go in
            doc = {"file": str(path), "upload_id": None, "status": "failed",
                   "reason": str(exc) if isinstance(exc, DatabaseUnavailable)
                   else f"cannot read the file: {exc.strerror or exc}"}
        bad = doc["status"] in ("rejected", "failed") or "publish_error" in doc
        failed += bad
        results.append(doc)
        if not args.json:
            print(printable(_ingest_line(doc), 2000), file=sys.stderr if bad else sys.stdout)
    if args.json:
        print(json.dumps(_finite({"uploads": results}), indent=2, allow_nan=False))
    return 1 if failed else 0


def _upload_doc(path: Path, out: UploadOutcome) -> dict[str, Any]:
    if out.status == "rejected":
        return {"file": str(path), "upload_id": out.upload_id, "status": "rejected",
                "reason": out.reason}
    doc = {"file": str(path), "upload_id": out.upload_id, "status": out.status,
           "format": out.format, "reason": out.reason, "records": out.records,
           "grids": len(out.grids), "skipped": out.skipped,
           "steps": round(out.steps) if math.isfinite(out.steps) else None,
           "days_changed": len(out.changed_days), "published": out.published}
    if out.publish_error:
        doc["publish_error"] = out.publish_error
    return doc


def _ingest_line(doc: dict[str, Any]) -> str:
    if doc["status"] in ("rejected", "failed"):
        return f"{doc['status']} {doc['file']}: {doc['reason']}"
    tail = f" ({doc['reason']})" if doc["reason"] else ""
    tail += f"; {doc['publish_error']}" if "publish_error" in doc else ""
    return (f"{doc['status']} {doc['file']} as {doc['format']}: {doc['grids']} day grids, "
            f"{doc['steps']:,} steps, {doc['days_changed']} days changed{tail}")


def _files(paths: Sequence[str]) -> list[Path]:
    """Files named, and the files inside folders named (sorted, hidden ones left out)."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if _is(path, Path.is_dir):
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif _is(path, Path.is_file):
            out.append(path)
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return out


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    """``test(path)``, False for a name the system refuses (e.g. too long)."""
    try:
        return test(path)
    except OSError:
        return False


def _id_map(pairs: Sequence[str] | None) -> dict[str, str]:
    """``SUBJECT=PATIENT`` pairs, or a CSV file of such pairs (at most 1 MiB of UTF-8). A
    bad line of a file is named by its number, never shown: the file may be anything."""
    out: dict[str, str] = {}
    for item in pairs or ():
        from_file = _is(Path(item), Path.is_file)
        lines = _id_map_lines(Path(item)) if from_file else [item]
        for number, line in enumerate((ln.strip() for ln in lines), 1):
            subject, sep, patient = (part.strip() for part in
                                     line.replace(",", "=", 1).partition("="))
            if from_file and line and not (subject and sep and is_valid_id(patient)):
                raise UsageError(f"--id-map {printable(item, 80)} line {number}: expected "
                                 "SUBJECT,PATIENT with a valid patient id")
            if not from_file and not (subject and sep):
                raise UsageError(f"--id-map {printable(item, 80)!r}: expected SUBJECT=PATIENT "
                                 "or a file of such pairs")
            if line:
                out[subject] = checked_id(patient, "--id-map patient id")
    return out


def _id_map_lines(path: Path) -> list[str]:
    try:
        if path.stat().st_size > ID_MAP_MAX_BYTES:
            raise UsageError(f"--id-map {printable(str(path), 80)}: larger than "
                             f"{ID_MAP_MAX_BYTES >> 20} MiB; not an id map")
        return path.read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--id-map {printable(str(path), 80)}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"--id-map {printable(str(path), 80)}: {exc.strerror or exc}") \
            from None


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

    now, by = datetime.now(timezone.utc), _actor(args)
    actions: dict[str, Callable[[Alert], Alert]] = {
        "ack": lambda a: lifecycle.acknowledge(a, by, args.reason, now),
        "resolve": lambda a: lifecycle.resolve(a, by, args.reason, now),
        "snooze": lambda a: lifecycle.snooze(a, _snooze_until(args, now), by, args.reason, now),
    }
    alert = _service(settings).act(args.alert_id, actions[args.action])
    emit(args, views.alert_doc(alert), f"alert {alert.id} is {alert.status.value}")
    return 0


def _actor(args: argparse.Namespace) -> str:
    """``--by``, else the login name if it is a valid user name."""
    if args.by:
        return str(args.by)
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the user database
        login = ""
    if not is_valid_id(login):
        raise UsageError("say who acts with --by NAME (your login name is not a valid user name)")
    return login


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
    error = f": {printable(row['last_error'], 300)}" if row["last_error"] else ""
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
    pa.add_argument("id", type=identifier("patient id"))
    pa.add_argument("--procedure", required=True, choices=sorted(procedures()))
    pa.add_argument("--start-date", required=True, type=iso_date,
                    help="surgery or programme start (YYYY-MM-DD)")
    pa.add_argument("--tz", required=True, type=zone, help="IANA zone, e.g. Europe/London")
    pa.add_argument("--steps-target", type=steps_range, help="override: LOW-HIGH daily steps")
    pa.add_argument("--team", default="default", type=identifier("team"),
                    help="clinical team (default: default)")
    ps = _adder(patient)("show", cmd_patient_show, "a patient's plan and today's targets")
    ps.add_argument("id", type=identifier("patient id"))
    ps.add_argument("--as-of", type=iso_date, help="targets as of this day (default: today)")
    ing = add("ingest", cmd_ingest, "store tracker exports as day grids")
    ing.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    ing.add_argument("--patient", required=True, type=identifier("patient id"),
                     help="patient the upload belongs to")
    ing.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    ing.add_argument("--id-map", action="append", metavar="SUBJECT=PATIENT|FILE",
                     help="map subject ids inside multi-subject files (Fitabase Id) to patients")
    ing.add_argument("--date-order", choices=["MDY", "DMY"],
                     help="date order for files whose dates cannot tell")
    su = add("summary", cmd_summary, "stored daily summaries of a patient (what the rules judged)")
    su.add_argument("id", type=identifier("patient id"))
    su.add_argument("--from", dest="date_from", type=iso_date)
    su.add_argument("--to", dest="date_to", type=iso_date)
    ev = add("evaluate", cmd_evaluate, "recompute summaries and alerts in batch")
    ev.add_argument("--as-of", type=iso_date,
                    help="last complete day (default: yesterday; at most tomorrow)")
    al = add("alerts", cmd_alerts, "list alerts")
    al.add_argument("--patient", type=identifier("patient id"))
    al.add_argument("--status", choices=[s.value for s in AlertStatus])
    one = add("alert", cmd_alert, "acknowledge, snooze or resolve an alert")
    one.add_argument("action", choices=["ack", "snooze", "resolve"])
    one.add_argument("alert_id", type=identifier("alert id"))
    one.add_argument("--reason", default="", help="why (required for snooze)")
    one.add_argument("--by", type=identifier("user name"),
                     help="who (default: your login name)")
    one.add_argument("--days", type=snooze_days, help="snooze length in days (1, 3 or 7)")
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
        print(f"rehabwatch: {printable(str(exc), 2000)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
