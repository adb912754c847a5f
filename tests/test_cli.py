"""CLI behaviour outside the domain commands: schema checks, the worker's settings, and
ingest publishing to a real (embedded) broker."""

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from alembic import command

from storage import database
from rehabwatch.broker import EmbeddedBroker, free_port
from rehabwatch.cli import main
from schemas.wire import decode_grid
from tests.kafka_fixtures import consume
from tests.test_evaluate import days_csv, span


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_commands_refuse_a_database_without_the_current_schema(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'rw.db'}"
    monkeypatch.setenv("RW_DATABASE_URL", url)
    code, err = run(capsys, "alerts")
    assert code == 1 and "no rehabwatch tables" in err and "rehabwatch init" in err
    command.upgrade(database.alembic_config(url), "0002")  # a database from an older release
    code, err = run(capsys, "alerts")
    assert code == 1 and "is at schema 0002" in err
    assert run(capsys, "init")[0] == 0
    assert run(capsys, "alerts") == (0, "no alerts\n")


def test_worker_needs_a_broker(rw, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RW_KAFKA_URL", raising=False)
    code, err = rw("worker")
    assert code == 1 and "RW_KAFKA_URL is not set" in err


def test_an_unreachable_broker_keeps_every_file_and_says_how_to_resend(
        rw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    monkeypatch.setenv("RW_KAFKA_URL", f"kafka://127.0.0.1:{free_port()}")  # nobody listens
    files = [days_csv(tmp_path / f"{name}.csv", span(date(2024, 6, d), date(2024, 6, d + 1), 4000))
             for name, d in (("a", 1), ("b", 10))]
    code, out = rw("ingest", *map(str, files), "--patient", "P1", "--json")
    doc = json.loads(out)
    assert code == 1
    assert [u["status"] for u in doc["uploads"]] == ["stored", "stored"]  # both kept...
    assert all(u["published"] == 0 and "rehabwatch evaluate" in u["publish_error"]
               for u in doc["uploads"])  # ...neither sent, and each says how to re-send
    code, out = rw("summary", "P1", "--from", "2024-06-01", "--to", "2024-06-11", "--json")
    assert code == 0 and len(out["days"]) == 4
    # the same file again is a duplicate: nothing to publish, so nothing fails
    assert main(["ingest", str(files[0]), "--patient", "P1"]) == 0
    assert "duplicate" in capsys.readouterr().out


@pytest.mark.kafka
def test_ingest_publishes_the_stored_grids_when_a_broker_is_set(
        rw, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: EmbeddedBroker) -> None:
    topic = f"cli-publish-{tmp_path.name}.daygrids"  # one per database backend
    monkeypatch.setenv("RW_KAFKA_URL", kafka_broker.url)
    monkeypatch.setenv("RW_TOPIC_DAYGRIDS", topic)
    f = days_csv(tmp_path / "week.csv", span(date(2024, 6, 1), date(2024, 6, 3), 4000))
    code, doc = rw("ingest", str(f), "--patient", "P1", "--json")
    assert code == 0 and doc["uploads"][0]["published"] == 3
    sent = consume(kafka_broker, topic, 3)
    grids = [decode_grid(value) for _, value, _ in sent]
    assert {key for key, _, _ in sent} == {b"P1"}
    assert sorted(g.local_date for g in grids) == [date(2024, 6, d) for d in (1, 2, 3)]
    assert round(sum(float(np.nansum(g.steps)) for g in grids)) == 12000
