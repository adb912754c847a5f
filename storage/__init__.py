"""The storage layer: the only code that speaks SQL (SQLAlchemy Core and ORM, Alembic).

Rooms: :mod:`storage.database` (engine, sessions, schema), :mod:`storage.tables` (table
definitions), :mod:`storage.sql` (dialect helpers), and one module per kind of row:
:mod:`storage.patients`, :mod:`storage.uploads`, :mod:`storage.grids`,
:mod:`storage.summaries` (with :mod:`storage.summary_cache`), :mod:`storage.alerts`,
:mod:`storage.outbox`. Functions take a :class:`sqlalchemy.orm.Session` and records of
:mod:`schemas`; callers (:mod:`rehabwatch.service`) own the transaction.
"""
