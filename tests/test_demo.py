"""The README's main job: the demo through the embedded streaming stack, and in batch, give
the same alerts, and exactly the ones its cohort was built to raise."""

from pathlib import Path

import pytest

from storage import database
from rehabwatch.demo import run
from rehabwatch.service import Service
from rehabwatch.settings import Settings
from rehabwatch.views import alert_doc

EXPECTED = {("DEMO-002", "underactivity", "clinician"), ("DEMO-003", "overload_spike", "clinician"),
            ("DEMO-004", "missing_data", "clinician"), ("DEMO-004", "missing_data", "patient")}


def demo_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: bool
                ) -> set[tuple[str, ...]]:
    for name in ("RW_DATABASE_URL", "RW_KAFKA_URL", "RW_MISSING_DATA_SCAN_S",
                 "RW_WORKER_WEB_PORT"):  # the demo sets these: setenv records them for undo
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("RW_STREAM_DATADIR", str(tmp_path / "faust"))
    out = tmp_path / ("batch" if batch else "stream")
    assert run(out, batch=batch) == 0
    url = f"sqlite:///{out / 'rehabwatch.db'}"
    docs = [alert_doc(a) for a in Service(Settings(database_url=url)).alerts()]
    database.engine(url).dispose()
    return {(a["patient_id"], a["rule"], a["audience"], a["status"], str(a["opened_on"]))
            for a in docs}


@pytest.mark.kafka
def test_demo_through_the_stream_equals_the_batch_and_raises_the_planted_alerts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = demo_alerts(tmp_path, monkeypatch, batch=False)
    batch = demo_alerts(tmp_path, monkeypatch, batch=True)
    assert stream == batch
    assert {a[:3] for a in stream} == EXPECTED and {a[3] for a in stream} == {"open"}
