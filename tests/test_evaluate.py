"""Batch evaluation through the CLI on SQLite and PostgreSQL: alerts raised once, late data
resolves what it answers, and every manual transition is recorded."""

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from rehabwatch import db
from schemas.models import AlertRow, NotificationRow

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
    with db.session_scope(url) as s:
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
