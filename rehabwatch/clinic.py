"""The API's use cases over patients, their data and their alerts, as seen by one caller:
each call is one transaction that reads or changes and writes its audit entry.

Every patient read is scoped by :class:`rehabwatch.access.Caller` (404 for a patient the
caller may not see); ingest, evaluation and the alert lifecycle go through
:class:`rehabwatch.service.Service`.
"""

from __future__ import annotations

from rehabwatch.service import Service
from rehabwatch.settings import Settings
from storage import alerts, database, patients


class Clinic:
    """Patients, uploads and alerts through the API, on the database of ``settings``."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.url = settings, settings.database_url
        self.service = Service(settings)

    def patient_team(self, patient_id: str) -> str | None:
        """The patient's team, or None if there is no such patient."""
        with database.session_scope(self.url) as session:
            patient = patients.get(session, patient_id)
            return None if patient is None else patient.team

    def alert_owner(self, alert_id: str) -> tuple[str, str, str] | None:
        """(patient id, team, audience) of an alert, or None if there is no such alert."""
        with database.session_scope(self.url) as session:
            alert = alerts.get(session, alert_id)
            if alert is None:
                return None
            patient = patients.get(session, alert.patient_id)
            return alert.patient_id, patient.team if patient else "", alert.audience
