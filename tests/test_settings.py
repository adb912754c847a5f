"""The settings tree: read once from an environment mapping, one clear error per bad value,
and the rules' parameters from a validated TOML file."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from alerts.rule_params import DEFAULT_PARAMS
from rehabwatch.cli import main
from rehabwatch.settings import VARIABLES, Settings, load
from schemas.errors import ConfigError


def test_defaults_without_variables() -> None:
    settings = load({})
    assert settings == Settings()
    assert settings.rules == DEFAULT_PARAMS and settings.kafka_url == ""


def test_variables_set_their_fields() -> None:
    settings = load({"RW_DATABASE_URL": "sqlite:///x.db", "RW_TOPIC_PARTITIONS": "12",
                     "RW_STREAM_BATCH_WITHIN_S": "0.2", "RW_NOTIFY_EMAIL_PATIENT": "a@x, b@x",
                     "RW_NOTIFY_DIGEST_AT": "18:30", "RW_KAFKA_URL": "kafka://h:9092",
                     "RW_MAX_UPLOAD_MB": "5"})
    assert settings.database_url == "sqlite:///x.db"
    assert settings.stream.topics.partitions == 12 and settings.stream.batch_within_s == 0.2
    assert settings.notify.email_to == {"patient": ("a@x", "b@x")}
    assert settings.notify.digest_at == time(18, 30)
    assert settings.kafka_url == "kafka://h:9092" and settings.max_upload_bytes == 5 << 20


@pytest.mark.parametrize("name, raw, allowed", [
    ("RW_TOPIC_PARTITIONS", "eight", "a whole number of at least 1"),
    ("RW_MAX_UPLOAD_MB", "0", "a whole number of at least 1"),
    ("RW_STREAM_BATCH_WITHIN_S", "inf", "a number of seconds above 0"),
    ("RW_NOTIFY_WEBHOOK_ROUTES", "clinician,pager", "comma-separated routes out of"),
    ("RW_NOTIFY_DIGEST_TZ", "Mars/Olympus", "an IANA time zone"),
    ("RW_LOG_LEVEL", "loud", "one of debug"),
])
def test_a_bad_value_names_the_variable_and_what_is_allowed(name: str, raw: str,
                                                             allowed: str) -> None:
    with pytest.raises(ConfigError, match=f"{name}='{raw}' is not {allowed}"):
        load({name: raw})


def test_every_variable_parser_says_what_it_allows() -> None:
    assert all((v.parse.__doc__ or "").strip() for v in VARIABLES)


def test_the_cli_prints_one_line_for_a_bad_setting(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RW_TOPIC_PARTITIONS", "eight")
    assert main(["alerts"]) == 1
    err = capsys.readouterr().err
    assert err == "rehabwatch: RW_TOPIC_PARTITIONS='eight' is not a whole number of at least 1\n"


def test_rules_file_overrides_what_it_names(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("lookback_days = 40\n[underactivity]\npersistence_valid_days = 4\n"
                     "high_ratio = 0.4\n[missing_data]\nsync_gap_hours = 72\n")
    params = load({"RW_RULES_FILE": str(rules)}).rules
    assert params.lookback_days == 40
    assert params.underactivity.persistence_valid_days == 4
    assert params.underactivity.high_ratio == 0.4
    assert params.underactivity.window_valid_days == DEFAULT_PARAMS.underactivity.window_valid_days
    assert params.missing_data.sync_gap == timedelta(hours=72)


@pytest.mark.parametrize("text, problem", [
    ("[underactivity]\npersistance_valid_days = 4\n", "no parameter 'underactivity.persistance"),
    ("[underactivity]\npersistence_valid_days = 2.5\n", "is not a whole number"),
    ("[underactivity]\nratio_threshold = 'high'\n", "is not a number"),
    ("underactivity = 3\n", "must be a table"),
    ("lookback_days = 10\n", "lookback_days must cover the RPM period"),
    ("[underactivity\n", "cannot be read"),
])
def test_a_bad_rules_file_is_refused_with_the_reason(tmp_path: Path, text: str,
                                                     problem: str) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load({"RW_RULES_FILE": str(rules)})


def test_a_missing_rules_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load({"RW_RULES_FILE": str(tmp_path / "absent.toml")})


@pytest.mark.parametrize("url, problem", [
    ("sqlite:////nonexistent-folder/x.db", "cannot use the database sqlite:////nonexistent-folder"),
    ("mysql-ish://what", "is not a database URL rehabwatch can open"),
    ("postgresql+psycopg://rw:secret@127.0.0.1:9/none", "cannot use the database"),
])
def test_a_database_that_cannot_be_used_is_one_line(url: str, problem: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RW_DATABASE_URL", url)
    assert main(["alerts"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rehabwatch: ") and problem in err and err.count("\n") == 1
    assert "secret" not in err  # the password is never printed
