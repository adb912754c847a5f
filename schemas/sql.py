"""SQL helpers the storage layers share.

:func:`one_of` is ``column IN (values)`` with the values bound as *one* parameter: an array
on PostgreSQL (``column = ANY(:values)``), a JSON list on SQLite (``column IN (SELECT value
FROM json_each(:values))``). SQLAlchemy's ``in_()`` binds one parameter per value, so each
batch size is a new statement text: compiled anew by SQLAlchemy, parsed anew by psycopg
(which caches only short statements) and planned anew by the server. With one parameter the
text is fixed: compiled once, prepared once. A 400-value lookup on PostgreSQL measured
~12 ms with ``in_()`` and ~4 ms with :func:`one_of`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import String, TypeDecorator, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean


class _ValueList(TypeDecorator[list[Any]]):
    """A list of values bound as one parameter: an array of the column's type on
    PostgreSQL, JSON text elsewhere (dates as ISO text, as SQLite stores them)."""

    impl = String
    cache_ok = True

    def __init__(self, item_type: TypeEngine[Any]) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item_type))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return json.dumps([v.isoformat() if isinstance(v, date) else v for v in value])


class OneOf(ColumnElement[bool]):
    """``column`` is one of a bound list of values (see :func:`one_of`)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" appended on SQLite
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("values", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column, self.values = column, values


def one_of(column: Any, values: Iterable[Any]) -> OneOf:
    """``column IN values`` with ``values`` bound as one parameter (module docstring)."""
    return OneOf(column, bindparam(None, list(values), type_=_ValueList(column.type)))


@compiles(OneOf, "postgresql")
def _one_of_postgresql(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(element.values, **kw)})"


@compiles(OneOf)
def _one_of_json(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return (f"{compiler.process(element.column, **kw)} IN "
            f"(SELECT value FROM json_each({compiler.process(element.values, **kw)}))")
