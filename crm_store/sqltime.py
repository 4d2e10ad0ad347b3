"""Time arithmetic and percentiles that compile to both SQLite and PostgreSQL.

SQLite keeps the CRM's UTC times as text ('2026-11-25 14:03:00.123456'), PostgreSQL as
timestamptz; these constructs let crm_store.insights say "the day of", "the hour of", "seconds
between" and "the median" once, in SQLAlchemy, and get the right SQL on each database.
All buckets are in UTC.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, String, case, func, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Subquery


class epoch(FunctionElement[float]):
    """Seconds since 1970-01-01 UTC of a timestamp column."""

    type = Float()
    inherit_cache = True


class day(FunctionElement[str]):
    """The UTC day of a timestamp as 'YYYY-MM-DD'."""

    type = String()
    inherit_cache = True


class hour(FunctionElement[int]):
    """The UTC hour (0-23) of a timestamp."""

    type = Integer()
    inherit_cache = True


class weekday(FunctionElement[int]):
    """The UTC weekday of a timestamp, Monday = 0 … Sunday = 6."""

    type = Integer()
    inherit_cache = True


def _arg(compiler: Any, element: FunctionElement[Any], **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"((julianday({_arg(compiler, element, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {_arg(compiler, element, **kw)}) AS DOUBLE PRECISION)"


@compiles(day, "sqlite")
def _day_sqlite(element: day, compiler: Any, **kw: Any) -> str:
    return f"date({_arg(compiler, element, **kw)})"


@compiles(day, "postgresql")
def _day_pg(element: day, compiler: Any, **kw: Any) -> str:
    return f"to_char(({_arg(compiler, element, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(hour, "sqlite")
def _hour_sqlite(element: hour, compiler: Any, **kw: Any) -> str:
    return f"CAST(strftime('%H', {_arg(compiler, element, **kw)}) AS INTEGER)"


@compiles(hour, "postgresql")
def _hour_pg(element: hour, compiler: Any, **kw: Any) -> str:
    arg = _arg(compiler, element, **kw)
    return f"CAST(EXTRACT(HOUR FROM ({arg}) AT TIME ZONE 'UTC') AS INTEGER)"


@compiles(weekday, "sqlite")
def _weekday_sqlite(element: weekday, compiler: Any, **kw: Any) -> str:
    return f"((CAST(strftime('%w', {_arg(compiler, element, **kw)}) AS INTEGER) + 6) % 7)"


@compiles(weekday, "postgresql")
def _weekday_pg(element: weekday, compiler: Any, **kw: Any) -> str:
    arg = _arg(compiler, element, **kw)
    return f"(CAST(EXTRACT(ISODOW FROM ({arg}) AT TIME ZONE 'UTC') AS INTEGER) - 1)"


def seconds_between(start: Any, end: Any) -> ColumnElement[float]:
    """end - start in seconds (NULL if either is NULL)."""
    return epoch(end) - epoch(start)


def percentiles(
    source: Subquery, value: str, groups: tuple[str, ...] = (), qs: tuple[float, ...] = (0.5, 0.9)
) -> Any:
    """SELECT groups…, count, p<q>… FROM source: nearest-rank percentiles of source.c[value].

    Portable (window functions only): the q-th percentile is the smallest value whose rank is at
    least q·n. NULL values are left out.
    """
    val = source.c[value]
    keys = [source.c[g] for g in groups]
    ranked = (
        select(
            *keys,
            val.label("v"),
            func.row_number().over(partition_by=keys or None, order_by=val).label("rn"),
            func.count().over(partition_by=keys or None).label("n"),
        )
        .where(val.is_not(None))
        .subquery("ranked")
    )
    columns: list[Any] = [ranked.c[g] for g in groups]
    columns.append(func.count().label("n"))
    for q in qs:
        rank_reached = ranked.c.rn >= literal_column(repr(float(q))) * ranked.c.n
        columns.append(
            func.min(case((rank_reached, ranked.c.v), else_=None)).label(f"p{round(q * 100)}")
        )
    stmt = select(*columns).select_from(ranked)
    if groups:
        stmt = stmt.group_by(*[ranked.c[g] for g in groups])
    return stmt

