"""The map in docs/architecture.md, kept true: dependencies point inward, no module imports
one that (directly or not) imports it back, nothing below the composition root reads the
environment, and every exception we define descends from the one root."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from schemas.errors import RehabwatchError

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "ingest", "processors", "alerts", "storage", "rehabwatch")
OURS = set(PACKAGES)
#: What each room may import of ours, and which third-party packages it may not.
ALLOWED = {"schemas": set(), "ingest": {"schemas"}, "processors": {"schemas"},
           "alerts": {"schemas"}, "storage": {"schemas"}, "rehabwatch": OURS}
FORBIDDEN = {"schemas": {"sqlalchemy", "faust", "aiokafka", "fastapi", "starlette"},
             "ingest": {"sqlalchemy", "faust", "aiokafka", "fastapi", "starlette"},
             "alerts": {"sqlalchemy", "faust", "aiokafka", "fastapi", "starlette"},
             "processors": {"sqlalchemy", "fastapi", "starlette"}, "storage": {"faust"},
             "rehabwatch": set()}


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
            for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
            if "migrations" not in p.parts}


def imports(path: Path) -> set[str]:
    """Every absolute module a file imports, at any depth (lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("module", sorted(modules()))
def test_dependencies_point_inward(module: str) -> None:
    room = module.split(".")[0]
    bad = sorted(m for m in imports(modules()[module])
                 if (m.split(".")[0] in OURS and m.split(".")[0] not in ALLOWED[room] | {room})
                 or m.split(".")[0] in FORBIDDEN[room])
    assert not bad, f"{module} imports {bad} against the inward rule (docs/architecture.md)"


def test_no_import_cycles() -> None:
    known = modules()
    graph = {m: {i for i in imports(p) if i in known and i != m} for m, p in known.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(path + [node, nxt])}")
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_only_the_composition_root_reads_the_environment() -> None:
    readers = sorted(m for m, p in modules().items() if not m.startswith("rehabwatch")
                     and ("os.environ" in p.read_text() or "getenv" in p.read_text()))
    assert not readers, f"read the environment below rehabwatch/: {readers}"


def test_every_exception_descends_from_the_one_root() -> None:
    strays = []
    for module in modules():
        for name, obj in inspect.getmembers(importlib.import_module(module), inspect.isclass):
            if (obj.__module__ == module and issubclass(obj, BaseException)
                    and not issubclass(obj, RehabwatchError)):
                strays.append(f"{module}.{name}")
    assert not strays, f"exceptions outside schemas.errors.RehabwatchError: {strays}"


def test_the_schema_head_is_alembics() -> None:
    """``check_schema`` compares with :data:`storage.database.HEAD` without loading Alembic:
    a new migration must move it."""
    from alembic.script import ScriptDirectory

    from storage.database import HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() == HEAD
