"""Arguments a careless user or an attacker gives: ids and teams follow the one pattern
(schemas.identifiers), dates and lengths are bounded, text from files is never echoed raw,
and no argument at all gives a traceback (a hypothesis run of main() per subcommand)."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rehabwatch.cli import build_parser, main
from tests.conftest import TEST_DATA

PATIENT = ["--procedure", "microdiscectomy", "--start-date", "2024-05-01", "--tz",
           "Europe/London"]


@pytest.mark.parametrize("bad", ["", " ", "a\nb", "\x1b[31mred", "x" * 65, "-P1", "a b",
                                 "ü", "p/1", "x" * 100_000])
def test_patient_ids_and_teams_follow_the_one_pattern(rw: Any, bad: str,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """Refused as arguments (exit code 2), or once the command runs for an --id-map value
    (exit code 1); the message never carries the control characters."""
    for argv in (["patient", "add", bad, *PATIENT], ["patient", "add", "P9", *PATIENT,
                                                     "--team", bad],
                 ["ingest", str(TEST_DATA), "--patient", bad], ["alerts", "--patient", bad],
                 ["summary", bad], ["patient", "show", bad], ["alert", "ack", bad]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "\x1b" not in err and "a\nb" not in err and len(err) < 2000
    code, err = rw("ingest", str(TEST_DATA / "fit"), "--patient", "P1", "--id-map", f"1={bad}")
    assert code == 1 and "--id-map" in err and "\x1b" not in err and err.count("\n") == 1
    assert rw("alerts", "--json")[1] == {"alerts": []}


def test_a_65_character_id_is_a_clear_error_on_both_databases(rw: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["patient", "add", "x" * 65, *PATIENT])
    assert exit_.value.code == 2
    assert rw("patient", "add", "x" * 64, *PATIENT)[0] == 0
    assert rw("summary", "x" * 64, "--json")[1] == {"patient": "x" * 64, "days": []}


def test_an_id_map_file_is_never_echoed(rw: Any, tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root,,,:/root:/bin/bash\n")
    code, err = rw("ingest", str(TEST_DATA / "fit"), "--patient", "P1", "--id-map", str(secret))
    assert code == 1 and "root" not in err.replace(str(secret), "") and "line 1" in err
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00junk")
    code, err = rw("ingest", str(TEST_DATA / "fit"), "--patient", "P1", "--id-map", str(binary))
    assert code == 1 and "not UTF-8" in err


def test_evaluate_as_of_after_tomorrow_is_refused_and_pins_nothing(rw: Any) -> None:
    code, err = rw("evaluate", "--as-of", "2100-01-01")
    assert code == 1 and "after the patients' tomorrow" in err
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--as-of", "9999-12-31"])
    assert exit_.value.code == 2
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    assert rw("evaluate", "--as-of", (tomorrow + timedelta(days=2)).isoformat())[0] == 1
    code, doc = rw("evaluate", "--json")  # a plain evaluate still judges
    assert code == 0 and doc["patients"] == 1
    code, doc = rw("patient", "show", "P1", "--json")
    assert code == 0


@pytest.mark.parametrize("argv", [["--days", "3000000"], ["--days", "-1"], ["--days", "x"],
                                  ["--until", "9999-12-31"], ["--until", "0001-01-01"]])
def test_snooze_lengths_and_dates_are_bounded(rw: Any, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["alert", "snooze", "a1", "--reason", "x", *argv])
    assert exit_.value.code == 2


# -- no traceback for any argument ---------------------------------------------------------

#: Subcommands left out of the random run: they serve until stopped.
SERVING = {"up", "worker", "api"}
WORDS = ["P1", "P2", "default", "2024-05-01", "2024-05-02", "9999-12-31", "0001-01-01",
         "1969-12-31", "2200-01-01", "3000000", "-1", "0", "7", "inf", "nan", "1e400",
         "99999999999999999999", "/etc/passwd", "/dev/null", "/nonexistent", "", " ",
         "a\nb", "\x1b[31m", "x" * 65, "Europe/London", "Mars/Olympus", "3500-5000", "5-3",
         "1=P1", "1=", "=P1", "MDY", "auto", "csv", "fit", str(TEST_DATA / "fit")]
#: Random text: no '/' or '.', so no random path names a big folder (".", "/", "..").
TEXT = st.text(st.characters(blacklist_characters="/.", blacklist_categories=("Cs",)),
               max_size=30)


def _commands() -> dict[str, argparse.ArgumentParser]:
    """Each runnable (sub)command's parser, by its words ("alert", "patient add")."""
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(words: str, parser: argparse.ArgumentParser) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            out[words.strip()] = parser
        for action in subs:
            for name, child in action.choices.items():
                walk(f"{words} {name}", child)
    walk("", build_parser())
    return {k: v for k, v in out.items() if k.split()[0] not in SERVING}


COMMANDS = _commands()


def _arguments(parser: argparse.ArgumentParser) -> st.SearchStrategy[list[str]]:
    options = [s for a in parser._actions for s in a.option_strings if s not in ("-h",
                                                                                "--help")]
    value = st.sampled_from(WORDS) | TEXT
    piece = st.one_of(st.sampled_from(options).map(lambda o: [o]) if options else st.nothing(),
                      st.tuples(st.sampled_from(options), value).map(list)
                      if options else st.nothing(),
                      value.map(lambda v: [v]))
    return st.lists(piece, max_size=6).map(lambda pieces: [w for p in pieces for w in p])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_argument_gives_a_traceback(command: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """main() with random arguments for each subcommand: exit code 0, 1 or 2, never another
    exception; with --json and exit code 0, stdout is one JSON document."""
    from storage import database

    url = f"sqlite:///{tmp_path / 'rw.db'}"
    database.upgrade(url)
    monkeypatch.setenv("RW_DATABASE_URL", url)
    monkeypatch.delenv("RW_KAFKA_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["patient", "add", "P1", *PATIENT]) == 0
    capsys.readouterr()

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow])
    @given(_arguments(COMMANDS[command]))
    def run(args: list[str]) -> None:
        argv = [*command.split(), *args]
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: 2 for a usage error, 0 for --help
            code = exc.code if isinstance(exc.code, int) else 2
        out = capsys.readouterr()
        assert code in (0, 1, 2), (argv, out.err)
        assert "Traceback" not in out.err
        if code == 0 and "--json" in argv and "--help" not in argv:
            json.loads(out.out)

    run()
