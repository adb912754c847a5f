"""The README documents every command and setting (and nothing that does not exist)."""

import argparse
import re
from pathlib import Path

from rehabwatch.cli import build_parser
from rehabwatch.settings import VARIABLES

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = commands(sub, f"{prefix}{name} ")
                out += nested or [f"{prefix}{name}"]
    return out


def test_every_command_is_in_the_readme() -> None:
    missing = [c for c in commands(build_parser()) if f"rehabwatch {c}" not in README
               and not re.search(rf"rehabwatch {c.split()[0]} [a-z|]*{c.split()[-1]}", README)]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_setting_is_in_the_readme() -> None:
    """Every variable the settings tree reads is documented, and the code names no other."""
    repo = Path(__file__).resolve().parents[1]
    sources = [p for pkg in ("rehabwatch", "processors", "schemas", "ingest", "alerts", "storage")
               for p in (repo / pkg).rglob("*.py")]
    named = {n for p in sources for n in re.findall(r"\bRW_[A-Z_]*[A-Z]\b", p.read_text())}
    read = {v.name for v in VARIABLES}
    assert {"RW_DATABASE_URL", "RW_KAFKA_URL", "RW_STREAM_BATCH_MAX", "RW_RULES_FILE"} <= read
    # `up` prints these for a second shell (`--demo`: the demo user); no setting reads them
    printed = {"RW_API_URL", "RW_DEMO_USER", "RW_DEMO_PASSWORD"}
    assert not named - read - printed - {"RW_TOPIC_"}, \
        "named in the code but not read by the settings"
    assert all(f"`{name}=" in README for name in printed), "printed but not in README.md"
    assert not read - set(re.findall(r"RW_[A-Z_]+", README)), "not in README.md"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in README and re.search(r"^make test$", ci, re.M)
