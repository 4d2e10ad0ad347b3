"""Engines and sessions for the CRM database; nothing is built at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 15_000


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory/other databases."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for url; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    is_sqlite = make_url(url).drivername.startswith("sqlite")
    if is_sqlite:
        # Several processes (API, action server, Rasa's tracker store) share the file.
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if is_sqlite:
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection pragmas: WAL so readers don't block the writer, and enforced FKs."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def url_or_settings(url: str | None) -> str:
    """url, or the settings' database URL when none was given (command-line tools)."""
    if url:
        return url
    from relay.settings import get_settings

    return get_settings().database_url


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to engine; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def scratch_database(base_url: str, prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database on base_url's server (tests, benchmarks); dropped after."""
    import uuid

    from sqlalchemy import text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def insert_unless_exists(
    session: Session, model: Any, values: dict[str, Any], conflict_columns: list[str]
) -> Any | None:
    """INSERT … ON CONFLICT DO NOTHING: the new row's primary key, or None if it already existed.

    Settles "select, then insert" races between processes without a savepoint (pysqlite's
    savepoints are unsafe: RELEASE can commit the outer transaction).
    """
    table = model.__table__
    pk = next(iter(table.primary_key.columns))
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        stmt: Any = postgresql.insert(table).values(**values)
    elif dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        stmt = sqlite.insert(table).values(**values)
    else:
        raise NotImplementedError(f"crm_store supports SQLite and PostgreSQL, not {dialect}.")
    stmt = stmt.on_conflict_do_nothing(index_elements=conflict_columns).returning(pk)
    return session.execute(stmt).scalar_one_or_none()
