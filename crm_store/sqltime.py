"""Time arithmetic and percentiles that compile to both SQLite and PostgreSQL.

SQLite keeps the CRM's UTC times as text ('2026-11-25 14:03:00.123456'), PostgreSQL as
timestamptz; these constructs let crm_store.insights say "the day of", "the hour of", "seconds
between" and "the median" once, in SQLAlchemy, and get the right SQL on each database.
All buckets are in UTC.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    func,
    literal_column,
    null,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement


class _TimePart(FunctionElement[Any]):
    """A function of one timestamp column, compiled per dialect (see _TEMPLATES)."""

    inherit_cache = True


class epoch(_TimePart):
    """Seconds since 1970-01-01 UTC of a timestamp column."""

    type = Float()
    inherit_cache = True  # must be set on every subclass


class day(_TimePart):
    """The UTC day of a timestamp as 'YYYY-MM-DD'."""

    type = String()
    inherit_cache = True  # must be set on every subclass


class hour(_TimePart):
    """The UTC hour (0-23) of a timestamp."""

    type = Integer()
    inherit_cache = True  # must be set on every subclass


class weekday(_TimePart):
    """The UTC weekday of a timestamp, Monday = 0 … Sunday = 6."""

    type = Integer()
    inherit_cache = True  # must be set on every subclass


def _arg(compiler: Any, element: FunctionElement[Any], **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


# (construct, SQLite template, PostgreSQL template); {x} is the timestamp argument.
_TEMPLATES: tuple[tuple[type[FunctionElement[Any]], str, str], ...] = (
    (epoch, "((julianday({x}) - 2440587.5) * 86400.0)",
     "CAST(EXTRACT(EPOCH FROM {x}) AS DOUBLE PRECISION)"),
    (day, "date({x})", "to_char(({x}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    (hour, "CAST(strftime('%H', {x}) AS INTEGER)",
     "CAST(EXTRACT(HOUR FROM ({x}) AT TIME ZONE 'UTC') AS INTEGER)"),
    (weekday, "((CAST(strftime('%w', {x}) AS INTEGER) + 6) % 7)",
     "(CAST(EXTRACT(ISODOW FROM ({x}) AT TIME ZONE 'UTC') AS INTEGER) - 1)"),
)


def _register(construct: type[FunctionElement[Any]], dialect: str, template: str) -> None:
    def compile_it(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
        return template.format(x=_arg(compiler, element, **kw))

    compiles(construct, dialect)(compile_it)


for _construct, _sqlite, _postgresql in _TEMPLATES:
    _register(_construct, "sqlite", _sqlite)
    _register(_construct, "postgresql", _postgresql)


def seconds_between(start: Any, end: Any) -> ColumnElement[float]:
    """end - start in seconds (NULL if either is NULL)."""
    return epoch(end) - epoch(start)


def percentiles(
    source: Any, values: tuple[str, ...], groups: tuple[str, ...] = (),
    qs: tuple[float, ...] = (0.5, 0.9), extra: tuple[Any, ...] = (), dialect: str = "sqlite",
    total: bool = False,
) -> Any:
    """SELECT groups…, n_<v>, <v>_p<q>… FROM source, in one pass for every value column.

    Nearest-rank percentiles: the q-th percentile of v is the smallest value whose rank among
    the non-NULL values is at least q·n. PostgreSQL computes exactly that with its ordered-set
    aggregate percentile_disc (one sort per group: 5x faster on a year of handoffs than window
    functions); elsewhere row_number() and count() windows do. extra: more aggregate columns
    (e.g. count(distinct …)), given as functions of the subquery they aggregate over.
    total: also one row over all groups, whose group columns are NULL (the groups must not be
    NULL themselves): ROLLUP on PostgreSQL, the rows a second time elsewhere.
    """
    if total and groups and dialect != "postgresql":
        rest = [c for c in source.c if c.key not in groups]
        source = union_all(
            select(*[source.c[g] for g in groups], *rest),
            select(*[null().label(g) for g in groups], *rest),
        ).subquery("with_total")
        total = False
    if dialect == "postgresql":
        columns: list[Any] = [source.c[g] for g in groups]
        for v in values:
            columns.append(func.count(source.c[v]).label(f"n_{v}"))
            columns += [func.percentile_disc(q).within_group(source.c[v])
                        .label(f"{v}_p{round(q * 100)}") for q in qs]
        columns += [e(source) for e in extra]
        stmt = select(*columns).select_from(source)
        if not groups:
            return stmt
        keys = [source.c[g] for g in groups]
        return stmt.group_by(func.rollup(*keys) if total else tuple_(*keys))
    keys = [source.c[g] for g in groups]
    window: list[Any] = []
    for v in values:
        col = source.c[v]
        window += [
            func.row_number().over(partition_by=keys or None,
                                   order_by=col.asc().nulls_last()).label(f"rn_{v}"),
            func.count(col).over(partition_by=keys or None).label(f"n_{v}"),
        ]
    ranked = select(*source.c, *window).subquery("ranked")
    columns = [ranked.c[g] for g in groups]
    for v in values:
        val, rn, n = ranked.c[v], ranked.c[f"rn_{v}"], ranked.c[f"n_{v}"]
        columns.append(func.max(n).label(f"n_{v}"))
        for q in qs:
            reached = and_(val.is_not(None), rn >= literal_column(repr(float(q))) * n)
            columns.append(func.min(case((reached, val), else_=None))
                           .label(f"{v}_p{round(q * 100)}"))
    columns += [e(ranked) for e in extra]
    stmt = select(*columns).select_from(ranked)
    if groups:
        stmt = stmt.group_by(*[ranked.c[g] for g in groups])
    return stmt
