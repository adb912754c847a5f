"""The dashboard for browser tests: a stored cohort (tests.cohort_db) judged by the rules,
served by the real app on uvicorn (127.0.0.1, a free port), staff users to sign in with and a
patient's token; where the system's Chromium is and how to launch it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rehabwatch.access import Actor
from rehabwatch.accounts import Accounts
from rehabwatch.api.server import background
from rehabwatch.settings import ApiSettings, Settings
from storage import database
from tests.cohort_db import Enrolled, fill_cohort

PASSWORD = "correct horse battery staple"
SETUP = Actor("tests", "cli")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@dataclass
class WebStack:
    url: str
    settings: Settings
    enrolled: list[Enrolled]
    patient_token: str = ""
    patient_id: str = ""


@contextmanager
def web_stack(database_url: str, patients: int = 36, days: int = 60) -> Iterator[WebStack]:
    """The cohort of ``patients`` (team ``north``; a few in ``south``) with ``days`` days of
    data, staff ``alice`` (clinician, north) and ``root`` (admin), served on a free port."""
    database.upgrade(database_url)
    settings = Settings(database_url=database_url, api=ApiSettings(port=0))
    enrolled = fill_cohort(database_url, patients, days, datetime.now(UTC), judged=True)
    fill_cohort(database_url, 6, days, datetime.now(UTC), team="south", prefix="S",
                judged=True)
    accounts = Accounts(settings)
    accounts.add_user("alice", "clinician", ["north"], PASSWORD, SETUP)
    accounts.add_user("root", "admin", [], PASSWORD, SETUP)
    on_track = next(e for e in enrolled if e.profile == "on_track")
    token, _ = accounts.create_token("patient", SETUP, on_track.patient_id, [])
    with background(settings) as url:
        yield WebStack(url, settings, enrolled, token, on_track.patient_id)
