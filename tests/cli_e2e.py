"""One upload end to end through the CLI, the interface that stays stable while storage and
service code move: ``init``, ``patient add``, ``ingest FILE --json``, ``summary --json`` on a
fresh SQLite file (no broker)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rehabwatch.cli import main


def ingest_and_summarize(path: Path, tz: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str],
                         *ingest_options: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the upload's ingest document, the patient's daily summaries) after ingesting
    ``path`` for a new patient ``p1`` living in ``tz``."""
    monkeypatch.setenv("RW_DATABASE_URL", f"sqlite:///{tmp_path / 'e2e.db'}")
    monkeypatch.delenv("RW_KAFKA_URL", raising=False)

    def run(*argv: str) -> Any:
        code = main(list(argv))
        out = capsys.readouterr()
        assert code == 0, out.err or out.out
        return json.loads(out.out) if "--json" in argv else out.out

    run("init")
    run("patient", "add", "p1", "--procedure", "microdiscectomy", "--start-date", "2010-01-01",
        "--tz", tz)
    upload = run("ingest", str(path), "--patient", "p1", *ingest_options, "--json")
    return upload["uploads"][0], run("summary", "p1", "--json")["days"]
