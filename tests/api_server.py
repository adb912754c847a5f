"""A real HTTP API for the tests: uvicorn on 127.0.0.1 (a free port) over a seeded database,
with a token for every kind of caller the access rules know.

Patients ``P1`` (team ``north``) and ``P2`` (team ``south``); tokens for ``patient`` (P1),
``other_patient`` (P2), ``clinician`` (north), ``other_clinician`` (south), ``monitoring``
(north), ``admin``, and an ``expired`` and a ``revoked`` clinician token of north; staff users
``alice`` (clinician, north) and ``root`` (admin), password :data:`PASSWORD`; an open
clinician alert and a patient nudge of P1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx

from rehabwatch import credentials
from rehabwatch.access import Actor
from rehabwatch.accounts import Accounts
from rehabwatch.api.server import background
from rehabwatch.demo_cohort import DemoPatient, plan_days
from rehabwatch.demo_exports import write_csv
from rehabwatch.service import Service
from rehabwatch.settings import ApiSettings, Settings
from schemas.alert_records import Alert, AlertStatus, Severity, Transition
from storage import alerts, database, tokens

PASSWORD = "correct horse battery staple"
#: A real device file (Garmin FIT walk) for uploads.
FIT_WALK = "fit/activity/garmin-fenix-5-walk.fit"
CALLERS = ("anonymous", "patient", "other_patient", "clinician", "other_clinician",
           "monitoring", "admin", "expired", "revoked")
SETUP = Actor("tests", "cli")


@dataclass
class ApiStack:
    url: str
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    alert_id: str = ""
    nudge_id: str = ""

    def client(self, caller: str = "anonymous", **kwargs: object) -> httpx.Client:
        """An HTTP client of the API speaking as ``caller`` (one of :data:`CALLERS`)."""
        headers = {"Authorization": f"Bearer {self.tokens[caller]}"} if caller in self.tokens \
            else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    @contextmanager
    def signed_in(self, name: str = "alice") -> Iterator[tuple[httpx.Client, str]]:
        """A client with a staff session cookie, and the session's CSRF token."""
        with httpx.Client(base_url=self.url, timeout=30) as client:
            answer = client.post("/api/v1/session", json={"name": name, "password": PASSWORD})
            answer.raise_for_status()
            yield client, answer.json()["csrf_token"]


def seed(settings: Settings) -> ApiStack:
    """Patients, users, tokens and alerts of the module docstring (no server)."""
    service, accounts = Service(settings), Accounts(settings)
    service.add_patient("P1", "microdiscectomy", date(2024, 5, 1), "Europe/London", "north", {})
    service.add_patient("P2", "fusion", date(2024, 5, 1), "America/New_York", "south", {})
    accounts.add_user("alice", "clinician", ["north"], PASSWORD, SETUP)
    accounts.add_user("root", "admin", [], PASSWORD, SETUP)
    stack = ApiStack("", settings)
    made = {"patient": ("patient", "P1", []), "other_patient": ("patient", "P2", []),
            "clinician": ("clinician", None, ["north"]),
            "other_clinician": ("clinician", None, ["south"]),
            "monitoring": ("monitoring", None, ["north"]), "admin": ("admin", None, []),
            "revoked": ("clinician", None, ["north"])}
    for kind, (role, patient, teams) in made.items():
        stack.tokens[kind], doc = accounts.create_token(role, SETUP, patient, teams)
    accounts.revoke_token(doc["id"], SETUP)
    expired, token_id = credentials.new_token()
    now = datetime.now(timezone.utc)
    with database.session_scope(settings.database_url) as session:
        tokens.add(session, token_id, credentials.sha256_hex(expired), "clinician", None,
                   ["north"], "", "tests", now - timedelta(days=2), now - timedelta(days=1))
        stack.alert_id, stack.nudge_id = _alerts(session, now)
    stack.tokens["expired"] = expired
    return stack


def _alerts(session: object, now: datetime) -> tuple[str, str]:
    made = []
    for audience, rule in (("clinician", "underactivity"), ("patient", "missing_data")):
        alert = Alert(id=f"al-test-{audience}", patient_id="P1", rule=rule, audience=audience,
                      severity=Severity.WARNING, status=AlertStatus.OPEN,
                      opened_on=now.date(), opened_at=now, message=f"{rule} for tests",
                      last_evidence={"median_ratio": 0.7},
                      transitions=(Transition(AlertStatus.OPEN, now, "rules", "opened"),))
        made.append(alert)
    alerts.save_alerts(session, made)  # type: ignore[arg-type]
    return made[0].id, made[1].id


@contextmanager
def api_stack(database_url: str, base: Settings | None = None, **api: object
              ) -> Iterator[ApiStack]:
    """A seeded, migrated database served on a free port: ``base`` settings (default: the
    defaults) with ``api`` (ApiSettings fields) changed."""
    database.upgrade(database_url)
    base = base or Settings()
    settings = dataclasses.replace(
        base, database_url=database_url,
        api=dataclasses.replace(base.api, port=0, **api))  # type: ignore[arg-type]
    stack = seed(settings)
    with background(settings) as url:
        stack.url = url
        yield stack


def underactive_export(path: Path, start: date) -> Path:
    """A generated CSV export (the demo's generator) whose patient walks far below target."""
    patient = DemoPatient("X", "microdiscectomy", start, "Europe/London", "north",
                          "underactive", "csv")
    days = plan_days(patient, datetime.now(timezone.utc))
    return write_csv(patient, days, path.parent)[0].rename(path)
