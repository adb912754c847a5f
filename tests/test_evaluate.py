"""Batch evaluation through the CLI on SQLite and PostgreSQL: alerts raised once, late data
resolves what it answers, and every manual transition is recorded."""

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from alerts import judging
from alerts.rule_params import DEFAULT_PARAMS
from rehabwatch import service
from rehabwatch.service import Service
from rehabwatch.settings import Settings
from storage import database, summaries
from storage.tables import AlertRow, NotificationRow

LONDON = ZoneInfo("Europe/London")


def days_csv(path: Path, steps_by_day: dict[date, int]) -> Path:
    """Minute rows 07:00–22:30 local with each day's steps spread evenly (a valid wear day)."""
    lines = ["timestamp,steps"]
    for day, total in steps_by_day.items():
        first = datetime.combine(day, time(7), LONDON)
        per_minute = total / 930
        lines += [f"{(first + timedelta(minutes=i)).isoformat()},{per_minute:.3f}"
                  for i in range(930)]
    path.write_text("\n".join(lines) + "\n")
    return path


def span(first: date, last: date, steps: int) -> dict[date, int]:
    return {first + timedelta(days=i): steps for i in range((last - first).days + 1)}


def count(url: str, model: type) -> int:
    with database.session_scope(url) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def test_underactivity_is_raised_once_however_often_evaluate_runs(rw, tmp_path: Path,
                                                                   database_url: str) -> None:
    f = days_csv(tmp_path / "low.csv", span(date(2024, 6, 1), date(2024, 6, 21), 1200))
    assert rw("ingest", str(f), "--patient", "P1")[0] == 0
    for as_of in ("2024-06-20", "2024-06-21", "2024-06-21"):
        assert rw("evaluate", "--as-of", as_of)[0] == 0
    code, doc = rw("alerts", "--patient", "P1", "--json")
    rules = sorted((a["rule"], a["audience"]) for a in doc["alerts"])
    assert rules == [("underactivity", "clinician")]
    alert = doc["alerts"][0]
    assert alert["status"] == "open" and "1,200" in alert["message"]
    assert count(database_url, AlertRow) == 1
    notes = count(database_url, NotificationRow)
    rw("evaluate", "--as-of", "2024-06-21")
    assert count(database_url, NotificationRow) == notes


def test_late_data_resolves_the_missing_data_alert(rw, tmp_path: Path) -> None:
    early = days_csv(tmp_path / "early.csv", span(date(2024, 6, 1), date(2024, 6, 14), 6000))
    rw("ingest", str(early), "--patient", "P1")
    rw("evaluate", "--as-of", "2024-06-21")
    code, doc = rw("alerts", "--status", "open", "--json")
    assert {a["rule"] for a in doc["alerts"]} == {"missing_data"}
    late = days_csv(tmp_path / "late.csv", span(date(2024, 6, 15), date(2024, 6, 21), 6000))
    rw("ingest", str(late), "--patient", "P1")
    rw("evaluate", "--as-of", "2024-06-21")
    code, doc = rw("alerts", "--json")
    missing = [a for a in doc["alerts"] if a["rule"] == "missing_data"]
    assert missing and all(a["status"] == "resolved" for a in missing)
    assert all(a["transitions"][-1]["actor"] == "rehabwatch" for a in missing)


def test_manual_actions_are_recorded_and_invalid_ones_refused(rw, tmp_path: Path) -> None:
    f = days_csv(tmp_path / "low.csv", span(date(2024, 6, 1), date(2024, 6, 21), 1200))
    rw("ingest", str(f), "--patient", "P1")
    rw("evaluate", "--as-of", "2024-06-21")
    alert_id = rw("alerts", "--json")[1]["alerts"][0]["id"]
    code, doc = rw("alert", "ack", alert_id, "--by", "dr.who", "--reason", "called", "--json")
    assert code == 0 and doc["status"] == "acknowledged"
    assert doc["transitions"][-1]["actor"] == "dr.who"
    code, err = rw("alert", "snooze", alert_id, "--days", "5", "--reason", "away")
    assert code == 1 and "snooze" in err
    code, doc = rw("alert", "resolve", alert_id, "--by", "dr.who", "--json")
    assert code == 0 and doc["status"] == "resolved"
    code, err = rw("alert", "ack", alert_id)
    assert code == 1 and "resolved" in err
    rw("evaluate", "--as-of", "2024-06-21")  # still low: a new episode, not a reopened one
    code, doc = rw("alerts", "--status", "open", "--json")
    assert len(doc["alerts"]) == 1 and doc["alerts"][0]["id"] != alert_id


@given(through=st.one_of(st.none(), st.dates(date(2024, 1, 1), date(2024, 12, 31))),
       start=st.dates(date(2024, 1, 1), date(2024, 12, 31)),
       as_of=st.dates(date(2024, 1, 1), date(2024, 12, 31)),
       ahead=st.integers(0, 40))
def test_evaluation_days_walk_each_unjudged_day_once(through: date | None, start: date,
                                                       as_of: date, ahead: int) -> None:
    newest = as_of + timedelta(days=ahead)  # the stream's clock may be ahead of a check
    days = judging.evaluation_days(through, start, as_of, newest)
    if through is not None and as_of <= through:
        assert days == [through]  # never back in time
        return
    assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:]))
    # from the day after the last judged one, unless the window before the newest complete
    # day or the programme start begins later; nothing if as_of is older than the window
    first = max(newest - timedelta(days=judging.CATCH_UP_DAYS - 1), min(start, as_of),
                through + timedelta(days=1) if through else date.min)
    assert days == ([] if first > as_of else [first + timedelta(days=i)
                                               for i in range((as_of - first).days + 1)])
    assert len(days) <= judging.CATCH_UP_DAYS


def test_one_evaluation_judges_the_days_a_nightly_run_would_have(rw, tmp_path: Path,
                                                                  database_url: str) -> None:
    """Alerts have hysteresis, so a fortnight evaluated at once must equal 14 nightly runs:
    the underactive spell that cleared before the as-of day is still on the record."""
    steps = {**span(date(2024, 6, 1), date(2024, 6, 10), 6000),
             **span(date(2024, 6, 11), date(2024, 6, 16), 900),
             **span(date(2024, 6, 17), date(2024, 6, 24), 8000)}
    f = days_csv(tmp_path / "spell.csv", steps)
    for pid in ("ONCE", "NIGHTLY"):
        rw("patient", "add", pid, "--procedure", "microdiscectomy", "--start-date", "2024-05-01",
           "--tz", "Europe/London")
        assert rw("ingest", str(f), "--patient", pid)[0] == 0
    # both judged through the 10th
    Service(Settings(database_url=database_url)).evaluate_all(date(2024, 6, 10))
    with database.session_scope(database_url) as session:
        for d in range(11, 25):
            for pid in ("ONCE", "NIGHTLY"):
                service.summarize_days(session, {(pid, date(2024, 6, d))})
            service.evaluate_patients(session, {"NIGHTLY": date(2024, 6, d)}, DEFAULT_PARAMS)
        # 14 days at once
        service.evaluate_patients(session, {"ONCE": date(2024, 6, 24)}, DEFAULT_PARAMS)

    def history(pid: str) -> list[tuple[object, ...]]:
        with database.session_scope(database_url) as session:
            rows = session.scalars(select(AlertRow).where(AlertRow.patient_id == pid)
                                   .order_by(AlertRow.opened_on, AlertRow.rule))
            return [(r.rule, r.audience, r.status, r.opened_on, r.severity,
                     [(t.status, t.at) for t in r.transitions]) for r in rows]

    assert history("ONCE") == history("NIGHTLY")
    assert ("underactivity", "clinician", "resolved") in {h[:3] for h in history("ONCE")}


def test_days_are_judged_at_their_end_and_the_newest_live() -> None:
    now = datetime(2024, 6, 22, 9, 30, tzinfo=timezone.utc)
    end_21 = datetime(2024, 6, 21, 23, 0, tzinfo=timezone.utc)  # London midnight in summer
    assert judging.judged_at(date(2024, 6, 21), "Europe/London", now) == now  # yesterday: live
    assert judging.judged_at(date(2024, 6, 20), "Europe/London", now) == end_21 - timedelta(days=1)
    assert judging.judged_at(date(2024, 6, 21), "Europe/London", None) == end_21


def test_patients_evaluated_together_get_what_each_gets_alone(rw, tmp_path: Path,
                                                             database_url: str) -> None:
    """One batched pass over several patients (summaries of baseline and recent windows read
    in one query) equals evaluating each one on its own, personal baseline included."""
    start = date(2024, 3, 15)  # 2024-06-14..24 are weeks 13-14, where a baseline caps targets
    after = span(start, date(2024, 6, 24), 5200)
    profiles = {
        "LOW": span(date(2024, 6, 1), date(2024, 6, 24), 1100),
        "SPELL": {**span(date(2024, 6, 1), date(2024, 6, 12), 7000),
                  **span(date(2024, 6, 13), date(2024, 6, 18), 800),
                  **span(date(2024, 6, 19), date(2024, 6, 24), 9000)},
        "BASE": {**span(start - timedelta(days=14), start - timedelta(days=2), 4000), **after},
        "NOBASE": after,
    }
    for name, steps in profiles.items():
        f = days_csv(tmp_path / f"{name}.csv", steps)
        for pid in (f"{name}-together", f"{name}-alone"):
            rw("patient", "add", pid, "--procedure", "microdiscectomy", "--start-date",
               start.isoformat(), "--tz", "Europe/London")
            assert rw("ingest", str(f), "--patient", pid)[0] == 0
    assert rw("evaluate", "--as-of", "2024-06-13")[0] == 0  # summarizes the days until then
    with database.session_scope(database_url) as session:
        for d in range(14, 25):
            day = date(2024, 6, d)
            for pid in (f"{n}-{how}" for n in profiles for how in ("together", "alone")):
                service.summarize_days(session, {(pid, day)})
            service.evaluate_patients(session, {f"{n}-together": day for n in profiles},
                                      DEFAULT_PARAMS)
            for n in profiles:
                service.evaluate_patients(session, {f"{n}-alone": day}, DEFAULT_PARAMS)

    def history(pid: str) -> list[tuple[object, ...]]:
        with database.session_scope(database_url) as session:
            rows = session.scalars(select(AlertRow).where(AlertRow.patient_id == pid)
                                   .order_by(AlertRow.opened_on, AlertRow.rule))
            return [(r.rule, r.audience, r.status, r.opened_on, r.severity, r.message,
                     r.last_evidence, [(t.status, t.at) for t in r.transitions]) for r in rows]

    for name in profiles:
        assert history(f"{name}-together") == history(f"{name}-alone")
    rules = {n: {h[0] for h in history(f"{n}-together")} for n in profiles}
    assert "underactivity" in rules["LOW"] and rules["SPELL"]
    # 5,200 steps: under the 5,500 protocol target of week 13, over the 4,750 the baseline sets
    assert "underactivity" in rules["NOBASE"] and "underactivity" not in rules["BASE"]


def test_stored_summaries_read_each_window_once_in_order_across_query_chunks(
        rw, tmp_path: Path, database_url: str, monkeypatch) -> None:
    """Windows may overlap (they are merged) and patients span several queries; each
    patient's summaries still come back once each, by date, and only from its windows."""
    for pid, steps in (("P1", 4000), ("P2", 6000), ("P3", 8000)):
        if pid != "P1":
            rw("patient", "add", pid, "--procedure", "microdiscectomy", "--start-date",
               "2024-05-01", "--tz", "Europe/London")
        f = days_csv(tmp_path / f"{pid}.csv", span(date(2024, 6, 1), date(2024, 6, 20), steps))
        assert rw("ingest", str(f), "--patient", pid)[0] == 0
    assert rw("evaluate", "--as-of", "2024-06-20")[0] == 0  # stores the summaries
    windows = {"P1": [(date(2024, 6, 12), date(2024, 6, 20)),
                      (date(2024, 6, 1), date(2024, 6, 3))],
               "P2": [(date(2024, 6, 5), date(2024, 6, 9)), (date(2024, 6, 8), date(2024, 6, 11))],
               "P3": [(date(2024, 6, 19), date(2024, 6, 25))]}
    with database.session_scope(database_url) as session:
        whole = summaries.stored_summaries(session, windows)
        monkeypatch.setattr(summaries, "_PATIENT_CHUNK", 1)
        chunked = summaries.stored_summaries(session, windows)
    days = {pid: [s.local_date for s in found] for pid, found in chunked.items()}
    assert days == {"P1": span_days(date(2024, 6, 1), date(2024, 6, 3))
                    + span_days(date(2024, 6, 12), date(2024, 6, 20)),
                    "P2": span_days(date(2024, 6, 5), date(2024, 6, 11)),
                    "P3": span_days(date(2024, 6, 19), date(2024, 6, 20))}
    assert chunked == whole
    assert {round(s.steps) for s in chunked["P2"]} == {6000}


def span_days(first: date, last: date) -> list[date]:
    return sorted(span(first, last, 0))


def test_events_say_whether_they_queued_notifications(rw, tmp_path: Path,
                                                      database_url: str) -> None:
    """The notify agent delivers only for events that queued notifications: an alert that
    opens does, the daily refresh of its evidence does not."""
    f = days_csv(tmp_path / "low.csv", span(date(2024, 6, 1), date(2024, 6, 24), 900))
    rw("patient", "add", "P1", "--procedure", "microdiscectomy", "--start-date", "2024-05-01",
       "--tz", "Europe/London")
    assert rw("ingest", str(f), "--patient", "P1")[0] == 0
    Service(Settings(database_url=database_url)).evaluate_all(date(2024, 6, 10))
    seen = []
    for d in range(11, 25):
        with database.session_scope(database_url) as session:
            known = set(session.scalars(select(NotificationRow.id)))
            events = service.evaluate_patients(session, {"P1": date(2024, 6, d)}, DEFAULT_PARAMS)
            session.flush()
            queued = {n.alert_id for n in session.scalars(select(NotificationRow))
                      if n.id not in known}
        assert {e.alert_id for e in events if e.notifies} == queued
        seen += [(e.kind, e.notifies) for e in events]
    assert ("updated", False) in seen and any(notifies for _, notifies in seen)
