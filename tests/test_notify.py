"""Notification delivery against real receivers: an SMTP server and an HTTP server on
127.0.0.1 (:mod:`tests.receivers`), the outbox on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from alerts import lifecycle
from alerts.notifiers import (ROUTES, DeliveryError, EmailNotifier, Outgoing, RetryPolicy,
                              SmtpServer, WebhookNotifier, next_digest, parse_secret)
from rehabwatch import delivery as notify
from rehabwatch.settings import load
from schemas.errors import ConfigError
from storage import alerts as alerting, outbox
from storage import database
from rehabwatch.broker import free_port
from rehabwatch.cli import main
from schemas.alert_records import AlertCandidate, Notification, Severity
from storage.tables import NotificationRow, Patient
from tests.receivers import SECRET, Hook, Mailbox, smtp_server, webhook_server

PATIENT = "mrn-4471-zq"  # must never appear in an e-mail or a log line
T0 = datetime(2024, 6, 3, 9, 30, tzinfo=UTC)
MESSAGE = ("7-day median 2,905 steps, below the 4,143 target for week 6 after discectomy "
           "(70% of target), on 3 consecutive valid days")


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_server() as h:
        yield h


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def webhook(hook: Hook, routes: Sequence[str] = ROUTES) -> WebhookNotifier:
    return WebhookNotifier(hook.url, parse_secret(SECRET), routes, timeout_s=5)


def mail(port: int, routes: Sequence[str] = ("clinician",)) -> EmailNotifier:
    return EmailNotifier(SmtpServer("127.0.0.1", port, timeout_s=5), "rehabwatch@clinic.example",
                         {r: [f"{r}-team@clinic.example"] for r in routes})


def seed(url: str, rule: str = "underactivity", severity: Severity = Severity.HIGH,
         audience: str = "clinician", at: datetime = T0) -> list[Notification]:
    """Open an alert for PATIENT as the evaluation would; its notifications are queued."""
    rec = lifecycle.reconcile([], [AlertCandidate(PATIENT, rule, at.date(), severity, MESSAGE,
                                                  audience)], [], at)
    with database.session_scope(url) as session:
        if session.get(Patient, PATIENT) is None:
            session.add(Patient(id=PATIENT, procedure="microdiscectomy",
                                start_date=at.date() - timedelta(days=40), tz="Europe/London"))
            session.flush()
        alerting.save_alerts(session, list(rec.create))
        alerting.queue_notifications(session, rec.notifications)
    return list(rec.notifications)


def rows(url: str) -> dict[str, NotificationRow]:
    with database.session_scope(url) as session:
        return {r.id: r for r in session.scalars(select(NotificationRow))}


def test_each_notification_goes_out_once_signed_and_without_patient_in_email(
        database_url: str, hook: Hook, mailbox: Mailbox,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    [note] = seed(database_url)
    channels = notify.Channels([webhook(hook, ["clinician"]), mail(mailbox.port)])
    report = notify.deliver_pending(database_url, channels, T0)
    assert report == notify.Report(delivered=1)
    assert notify.deliver_pending(database_url, channels, T0 + timedelta(hours=2)) == \
        notify.Report()  # delivered: never sent again

    [payload] = hook.verified()
    assert hook.accepted_ids() == [note.id]
    assert payload["type"] == "rehabwatch.alert.notification"
    assert payload["data"] | {"created_at": None} == {
        "id": note.id, "alert_id": note.alert_id, "patient_id": PATIENT, "rule": "underactivity",
        "route": "clinician", "kind": "new", "severity": "high", "message": MESSAGE,
        "created_at": None}

    [(to, msg, raw)] = mailbox.messages
    assert to == ["clinician-team@clinic.example"]
    assert msg["Message-ID"] == f"<{note.id}@clinic.example>"
    assert msg["Subject"] == "rehabwatch: high underactivity alert (new)"
    body = msg.get_content()
    assert note.alert_id in body and MESSAGE in body and "rehabwatch alerts" in body
    assert PATIENT.encode() not in raw

    row = rows(database_url)[note.id]
    assert (row.delivered_at, row.attempts, row.next_attempt_at) == (T0, 1, None)
    assert caplog.records and not any(PATIENT in r.getMessage() for r in caplog.records)


def test_a_failing_receiver_is_retried_with_backoff_and_delivered_once(
        database_url: str, hook: Hook, mailbox: Mailbox,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    [note] = seed(database_url)
    hook.statuses = [500, 503]
    mailbox.refuse = ["451 4.3.0 mailbox busy, try later"]
    channels = notify.Channels([webhook(hook, ["clinician"]), mail(mailbox.port)])

    assert notify.deliver_pending(database_url, channels, T0) == notify.Report(retrying=1)
    row = rows(database_url)[note.id]
    assert row.attempts == 1 and row.next_attempt_at == T0 + timedelta(minutes=1)
    assert row.last_error == ("webhook answered HTTP 500; e-mail via "
                              f"127.0.0.1:{mailbox.port}: 451 4.3.0 mailbox busy, try later")
    # not due yet: nothing is sent
    assert notify.deliver_pending(database_url, channels, T0 + timedelta(seconds=59)) == \
        notify.Report()
    assert len(hook.received) == 1
    second = T0 + timedelta(minutes=1)
    assert notify.deliver_pending(database_url, channels, second) == notify.Report(retrying=1)
    row = rows(database_url)[note.id]
    assert row.attempts == 2 and row.next_attempt_at == second + timedelta(minutes=2)
    assert row.last_error == "webhook answered HTTP 503"  # the e-mail went through

    third = second + timedelta(minutes=2)
    assert notify.deliver_pending(database_url, channels, third) == notify.Report(delivered=1)
    assert notify.deliver_pending(database_url, channels, third + timedelta(days=1)) == \
        notify.Report()
    assert [h["webhook-id"] for h, _, _ in hook.received] == [note.id] * 3  # one id throughout
    assert hook.accepted_ids() == [note.id]
    assert len(hook.verified()) == 3
    row = rows(database_url)[note.id]
    assert (row.delivered_at, row.attempts, row.next_attempt_at) == (third, 3, None)
    assert not any(PATIENT in r.getMessage() for r in caplog.records)


def test_an_unreachable_smtp_server_is_a_reason_not_a_crash(database_url: str) -> None:
    [note] = seed(database_url)
    channels = notify.Channels([mail(free_port())])  # nobody listens there
    assert notify.deliver_pending(database_url, channels, T0) == notify.Report(retrying=1)
    assert "ConnectionRefusedError" in rows(database_url)[note.id].last_error


def test_after_the_last_attempt_it_stays_failed_listed_and_counted_until_retried(
        database_url: str, hook: Hook) -> None:
    [note] = seed(database_url)
    hook.statuses = [500, 500]
    channels = notify.Channels([webhook(hook)], RetryPolicy(max_attempts=2))
    assert notify.deliver_pending(database_url, channels, T0).retrying == 1
    later = T0 + timedelta(minutes=1)
    assert notify.deliver_pending(database_url, channels, later) == notify.Report(failed=1)
    assert notify.deliver_pending(database_url, channels, later + timedelta(days=3)) == \
        notify.Report()  # no attempt left
    with database.session_scope(database_url) as session:
        [listed] = outbox.undelivered(session)
        assert outbox.undelivered_counts(session) == {("clinician", "failed"): 1}
    assert listed["id"] == note.id and listed["state"] == "failed" and listed["attempts"] == 2
    assert listed["last_error"] == "webhook answered HTTP 500"
    assert "message" not in listed and PATIENT not in json.dumps(listed, default=str)

    with database.session_scope(database_url) as session:
        assert outbox.retry_failed(session, later + timedelta(days=3)) == 1
    assert notify.deliver_pending(database_url, channels, later + timedelta(days=3)) == \
        notify.Report(delivered=1)
    assert hook.accepted_ids() == [note.id]


def test_a_route_without_a_channel_is_failed_at_once_with_the_reason(
        database_url: str, hook: Hook) -> None:
    notes = seed(database_url, "sitting", Severity.INFO, "patient")  # routes patient, digest
    channels = notify.Channels([webhook(hook, ["clinician", "monitoring"])])
    assert channels.unserved() == ["digest", "patient"]
    assert "No channel for route(s) digest, patient" in channels.describe()
    assert notify.deliver_pending(database_url, channels, T0) == notify.Report(no_channel=2)
    stored = rows(database_url)
    assert {stored[n.id].last_error for n in notes} == {
        "no channel configured for route patient", "no channel configured for route digest"}
    assert all(stored[n.id].next_attempt_at is None for n in notes) and not hook.received


def test_digest_notifications_wait_for_the_digest_time_and_go_out_together(
        database_url: str, hook: Hook, mailbox: Mailbox) -> None:
    first = seed(database_url, "sitting", Severity.INFO, "patient", at=T0)
    second = seed(database_url, "rpm_days_at_risk", Severity.INFO, "clinician",
                  at=T0 + timedelta(hours=5))
    digest_ids = sorted(n.id for n in first + second if n.route == "digest")
    channels = notify.Channels([webhook(hook, ["digest", "patient"]), mail(mailbox.port,
                                                                          ["digest"])],
                               digest_at=time(7, 0), digest_zone=ZoneInfo("Europe/London"))
    evening = T0 + timedelta(hours=8)
    assert notify.deliver_pending(database_url, channels, evening) == \
        notify.Report(delivered=1)  # the patient nudge; the digest waits
    slot = datetime(2024, 6, 4, 6, 0, tzinfo=UTC)  # 07:00 in London (BST)
    assert rows(database_url)[digest_ids[0]].next_attempt_at == slot
    assert notify.deliver_pending(database_url, channels, slot - timedelta(seconds=1)) == \
        notify.Report()
    assert notify.deliver_pending(database_url, channels, slot) == notify.Report(delivered=2)

    nudge, digest = hook.verified()
    assert nudge["data"]["route"] == "patient"
    assert digest["type"] == "rehabwatch.alert.digest"
    assert sorted(n["id"] for n in digest["data"]["notifications"]) == digest_ids
    assert hook.received[1][0]["webhook-id"] == digest["data"]["id"]
    assert digest["data"]["id"].startswith("dg_")
    [(to, msg, raw)] = mailbox.messages
    assert msg["Subject"] == "rehabwatch: daily digest, 2 notifications"
    assert msg["Message-ID"] == f"<{digest['data']['id']}@clinic.example>"
    assert PATIENT.encode() not in raw


class Concurrent:
    """A channel that, mid-send, lets a second sender (another worker, the retry timer) try
    the same outbox: it must find the row claimed."""

    name = "concurrent"
    routes = frozenset(ROUTES)

    def __init__(self, url: str, inner: WebhookNotifier) -> None:
        self.url, self.inner, self.seen = url, inner, notify.Report()

    def send(self, batch: Sequence[Outgoing]) -> None:
        self.seen = notify.deliver_pending(self.url, notify.Channels([self.inner]), T0)
        self.inner.send(batch)


def test_a_claimed_notification_is_not_sent_by_a_second_sender(database_url: str,
                                                               hook: Hook) -> None:
    [note] = seed(database_url)
    concurrent = Concurrent(database_url, webhook(hook))
    assert notify.deliver_pending(database_url, notify.Channels([concurrent]), T0) == \
        notify.Report(delivered=1)
    assert concurrent.seen == notify.Report() and hook.accepted_ids() == [note.id]


def test_smtp_login_from_the_url() -> None:
    logins: list[tuple[str, str]] = []

    def authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        from aiosmtpd.smtp import AuthResult

        logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=True)

    with smtp_server(authenticator=authenticate, auth_require_tls=False) as box:
        server = SmtpServer.from_url(f"smtp://care%2Bteam:p%40ss@127.0.0.1:{box.port}")
        out = Outgoing(Notification("nt_1", "al_1", PATIENT, "sitting", "clinician", "new",
                                    MESSAGE, T0), "info")
        EmailNotifier(server, "rw@clinic.example", {"clinician": ["a@clinic.example"]}).send([out])
    assert logins == [("care+team", "p@ss")] and len(box.messages) == 1


def test_a_redirect_is_a_failure_not_followed(hook: Hook) -> None:
    hook.statuses = [307]
    out = Outgoing(Notification("nt_1", "al_1", PATIENT, "sitting", "clinician", "new", MESSAGE,
                                T0), "info")
    with pytest.raises(DeliveryError, match="webhook answered HTTP 307"):
        webhook(hook).send([out])
    assert len(hook.received) == 1


def test_smtp_urls() -> None:
    assert SmtpServer.from_url("smtps://mail.example") == SmtpServer("mail.example", 465, True)
    assert "p@ss" not in repr(SmtpServer.from_url("smtp://u:p%40ss@mail.example"))
    assert SmtpServer.from_url("smtp://mail.example:587?starttls=1") == \
        SmtpServer("mail.example", 587, starttls=True)
    with pytest.raises(ValueError, match="smtp://"):
        SmtpServer.from_url("http://mail.example")


@pytest.mark.parametrize("env, problem", [
    ({"RW_NOTIFY_WEBHOOK_URL": "https://care.example/hook"}, "RW_NOTIFY_WEBHOOK_SECRET"),
    ({"RW_NOTIFY_WEBHOOK_URL": "https://care.example/hook", "RW_NOTIFY_WEBHOOK_SECRET": "short"},
     "whsec_"),
    ({"RW_NOTIFY_WEBHOOK_URL": "https://care.example/hook", "RW_NOTIFY_WEBHOOK_SECRET": SECRET,
      "RW_NOTIFY_WEBHOOK_ROUTES": "clinician,pager"}, "pager"),
    ({"RW_NOTIFY_EMAIL_CLINICIAN": "a@clinic.example"}, "RW_NOTIFY_SMTP_URL"),
    ({"RW_NOTIFY_DIGEST_AT": "7am"}, "RW_NOTIFY_DIGEST_AT='7am' is not a time of day"),
])
def test_settings_that_cannot_work_are_refused(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        notify.channels_from(load(env).notify)


def test_settings_from_the_environment() -> None:
    channels = notify.channels_from(load({
        "RW_NOTIFY_WEBHOOK_URL": "https://care.example/hook", "RW_NOTIFY_WEBHOOK_SECRET": SECRET,
        "RW_NOTIFY_WEBHOOK_ROUTES": "clinician, patient",
        "RW_NOTIFY_SMTP_URL": "smtp://mail.example:587?starttls=1",
        "RW_NOTIFY_EMAIL_MONITORING": "rpm@clinic.example, lead@clinic.example",
        "RW_NOTIFY_MAX_ATTEMPTS": "4", "RW_NOTIFY_DIGEST_AT": "18:30"}).notify)
    assert [(n.name, sorted(n.routes)) for n in channels.notifiers] == [
        ("email", ["monitoring"]), ("webhook", ["clinician", "patient"])]
    assert channels.unserved() == ["digest"]
    assert channels.policy.max_attempts == 4 and channels.digest_at == time(18, 30)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_notify_delivers_and_lists(database_url: str, hook: Hook,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RW_DATABASE_URL", database_url)
    monkeypatch.setenv("RW_NOTIFY_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("RW_NOTIFY_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("RW_NOTIFY_WEBHOOK_ROUTES", "clinician")
    seed(database_url)
    seed(database_url, "sitting", Severity.WARNING, "patient")  # route patient: no channel
    assert main(["notify", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {"requeued": 0, "delivered": 1, "retrying": 0, "failed": 0,
                                   "no_channel": 1}
    assert "No channel for route(s) digest, patient, monitoring" in out.err
    assert main(["notify", "--status", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["notifications"]
    assert (listed["route"], listed["state"]) == ("patient", "failed")
    assert main(["notify", "--status"]) == 0
    status = capsys.readouterr().out
    assert "no channel configured for route patient" in status
    assert PATIENT not in status and MESSAGE not in status

    hook.statuses = [500]
    monkeypatch.setenv("RW_NOTIFY_WEBHOOK_ROUTES", "clinician,patient")
    assert main(["notify", "--retry"]) == 1  # requeued, and the webhook failed
    assert "requeued 1, delivered 0, retrying 1" in capsys.readouterr().out
    monkeypatch.setenv("RW_NOTIFY_WEBHOOK_SECRET", "not-a-secret")
    assert main(["notify"]) == 1
    assert "RW_NOTIFY_WEBHOOK_SECRET" in capsys.readouterr().err


def test_migration_0005_makes_queued_notifications_due(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(database.alembic_config(url), "0004")
    with database.engine(url).begin() as conn:
        conn.execute(text("INSERT INTO patients (id, team, procedure, start_date, tz, overrides, "
                          "created_at) VALUES ('p', 'default', 'fusion', '2024-05-01', 'UTC', "
                          "'{}', '2024-05-01 00:00:00')"))
        conn.execute(text("INSERT INTO alerts (id, patient_id, rule, audience, severity, status, "
                          "opened_on, opened_at, message, last_evidence, stage) VALUES ('al_1', "
                          "'p', 'sitting', 'patient', 'info', 'open', '2024-06-01', "
                          "'2024-06-01 09:00:00', 'm', '{}', '')"))
        conn.execute(text("INSERT INTO notifications (id, alert_id, patient_id, rule, route, "
                          "kind, message, created_at, attempts, last_error) VALUES ('nt_1', "
                          "'al_1', 'p', 'sitting', 'patient', 'new', 'm', "
                          "'2024-06-01 09:00:00.000000', 0, '')"))
    database.upgrade(url)
    assert rows(url)["nt_1"].next_attempt_at == datetime(2024, 6, 1, 9, tzinfo=UTC)
    database.engine(url).dispose()


# -- the schedule, as properties ------------------------------------------------------------

@given(st.integers(1, 200), st.integers(1, 600), st.integers(1, 50))
def test_backoff_doubles_from_the_first_delay_up_to_the_cap(attempts: int, first_s: int,
                                                            cap_factor: int) -> None:
    policy = RetryPolicy(timedelta(seconds=first_s), timedelta(seconds=first_s * cap_factor))
    delay = policy.delay(attempts)
    assert policy.delay(1) == policy.first_delay
    assert policy.first_delay <= delay <= policy.max_delay
    assert policy.delay(attempts + 1) == min(delay * 2, policy.max_delay)


@given(st.integers(1, 30), st.integers(1, 30))
def test_no_attempt_after_the_last(attempts: int, max_attempts: int) -> None:
    policy = RetryPolicy(max_attempts=max_attempts)
    nxt = policy.next_attempt(attempts, T0)
    assert (nxt is None) == (attempts >= max_attempts)
    assert nxt is None or nxt == T0 + policy.delay(attempts)


@given(st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
       st.times().map(lambda t: t.replace(fold=0)),
       st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe"]))
def test_the_digest_time_is_the_first_local_digest_time_from_now_on(
        after: datetime, at: time, zone_name: str) -> None:
    zone = ZoneInfo(zone_name)
    slot = next_digest(after, at, zone)
    local = slot.astimezone(zone)
    assert after <= slot <= after + timedelta(days=1, hours=1)
    assert datetime.combine(local.date() - timedelta(days=1), at, zone) < after  # the first
    wall = datetime.combine(local.date(), at, zone)
    in_gap = wall.astimezone(UTC).astimezone(zone).time() != at  # skipped by a DST change
    assert in_gap or local.time() == at
