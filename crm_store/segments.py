"""Loyalty segments: RFM scores and k-means clusters with names people use.

Recency: days since the customer last wrote to us (any channel). Frequency: conversations in the
last 365 days. Monetary: the value of their won leads (expected_value, or the list price of the
plan the lead was about when no value was agreed). Each becomes a 1-5 score by rank among the
customers with any activity (a customer with no money or no conversation scores 1). k-means
(scikit-learn) groups the (R, F, M) scores into eight clusters, and each cluster takes the name
of the prototype nearest its centre — champions, loyal, new, at risk, dormant — so a name always
describes where its customers are, even when two clusters share one. (Five clusters with one
name each were measured on the demo data to lump big spenders together whatever their recency:
k-means follows the largest variance, which with sparse money is "has paid or not".)

``python -m crm_store.segments [--url URL]`` recomputes them (nightly, or on demand from the
Insights page).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from sqlalchemy import case, delete, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from crm_store import audit
from crm_store.enums import Author, LeadStage
from crm_store.insights import Table
from crm_store.models import Conversation, Customer, CustomerSegment, Interaction, Lead, utcnow
from crm_store.sqltime import epoch

# Segment -> prototype (R, F, M) in score space; order is the display order.
PROTOTYPES: dict[str, tuple[float, float, float]] = {
    "champions": (5, 5, 5),
    "loyal": (4, 4, 3),
    "new": (5, 1, 1),
    "at risk": (2, 4, 4),
    "dormant": (1, 1, 1),
}
SEGMENTS = tuple(PROTOTYPES)
SegmentName = Literal["champions", "loyal", "new", "at risk", "dormant"]
# Yearly list price of one seat, for won leads that name a plan but carry no value.
PLAN_YEARLY_PRICE = {"business": Decimal(150), "pro": Decimal(80)}
FREQUENCY_DAYS = 365
CLUSTERS = 8
SEED = 7
ENTITY = "segments"  # in the audit log


@dataclass(frozen=True)
class Rfm:
    """One customer's raw RFM figures."""

    customer_id: int
    recency_days: float
    frequency: int
    monetary: Decimal


def _lead_value() -> Any:
    """A won lead's value: expected_value, else the yearly price of the plan it names."""
    interest = func.lower(func.coalesce(Lead.interest, ""))
    listed = case(
        *[(interest.like(f"%{plan}%"), literal(price)) for plan, price in
          PLAN_YEARLY_PRICE.items()],
        else_=literal(Decimal(0)),
    )
    return func.coalesce(Lead.expected_value, listed)


def rfm(*, session: Session, as_of: datetime | None = None) -> list[Rfm]:
    """Raw RFM figures of every customer who wrote to us or won a lead."""
    as_of = as_of or utcnow()
    last_seen = (
        select(Interaction.customer_id.label("cid"),
               func.max(Interaction.created_at).label("last"))
        .where(Interaction.customer_id.is_not(None), Interaction.author == Author.CUSTOMER)
        .group_by(Interaction.customer_id)
        .subquery("last_seen")
    )
    frequent = (
        select(Conversation.customer_id.label("cid"), func.count().label("n"))
        .where(Conversation.customer_id.is_not(None),
               Conversation.created_at >= as_of - timedelta(days=FREQUENCY_DAYS))
        .group_by(Conversation.customer_id)
        .subquery("frequent")
    )
    money = (
        select(Lead.customer_id.label("cid"), func.sum(_lead_value()).label("value"),
               func.max(Lead.updated_at).label("won_at"))
        .where(Lead.stage == LeadStage.WON)
        .group_by(Lead.customer_id)
        .subquery("money")
    )
    last = func.coalesce(last_seen.c.last, money.c.won_at, Customer.created_at)
    rows = session.execute(
        select(
            Customer.id,
            (literal(as_of.timestamp()) - epoch(last)) / 86400.0,
            func.coalesce(frequent.c.n, 0),
            func.coalesce(money.c.value, 0),
        )
        .outerjoin(last_seen, last_seen.c.cid == Customer.id)
        .outerjoin(frequent, frequent.c.cid == Customer.id)
        .outerjoin(money, money.c.cid == Customer.id)
        .where(or_(last_seen.c.cid.is_not(None), money.c.cid.is_not(None)))
        .order_by(Customer.id)
    ).all()
    return [Rfm(int(r[0]), max(0.0, float(r[1])), int(r[2]), Decimal(str(r[3]))) for r in rows]


def scores(values: np.ndarray, *, higher_is_better: bool = True,
           zero_is_lowest: bool = False) -> np.ndarray:
    """1-5 by rank (ties share a score); zero_is_lowest: zeros score 1, the rest 2-5."""
    from scipy.stats import rankdata

    out = np.ones(len(values), dtype=np.int64)
    ranked = values if higher_is_better else -values
    mask = values > 0 if zero_is_lowest else np.ones(len(values), dtype=bool)
    if not mask.any():
        return out
    pct = (rankdata(ranked[mask], method="average") - 0.5) / mask.sum()
    low, levels = (2, 4) if zero_is_lowest else (1, 5)
    out[mask] = low + np.minimum(levels - 1, np.floor(pct * levels)).astype(np.int64)
    return out


def cluster(points: np.ndarray, *, k: int = CLUSTERS) -> list[str]:
    """The segment name of each (R, F, M) score row: k-means, clusters named by prototype."""
    from sklearn.cluster import KMeans

    distinct = np.unique(points, axis=0)
    k = max(1, min(k, len(distinct)))
    model = KMeans(n_clusters=k, n_init=10, random_state=SEED).fit(points.astype(np.float64))
    prototypes = np.array(list(PROTOTYPES.values()), dtype=np.float64)
    cost = np.linalg.norm(model.cluster_centers_[:, None, :] - prototypes[None, :, :], axis=2)
    name_of = [SEGMENTS[int(i)] for i in cost.argmin(axis=1)]
    return [name_of[int(label)] for label in model.labels_]


def recompute(*, session: Session, actor: str, as_of: datetime | None = None) -> int:
    """Score and segment every active customer, replacing the stored segments, audited;
    returns how many customers were segmented."""
    count = _replace_segments(session=session, as_of=as_of or utcnow())
    audit.record(session=session, actor=actor, action="recompute", entity=ENTITY,
                 after={"customers": count})
    return count


def _replace_segments(*, session: Session, as_of: datetime) -> int:
    figures = rfm(session=session, as_of=as_of)
    session.execute(delete(CustomerSegment))
    if not figures:
        return 0
    recency = np.array([f.recency_days for f in figures])
    frequency = np.array([f.frequency for f in figures], dtype=np.float64)
    monetary = np.array([float(f.monetary) for f in figures])
    r = scores(recency, higher_is_better=False)
    f = scores(frequency, zero_is_lowest=True)
    m = scores(monetary, zero_is_lowest=True)
    names = cluster(np.column_stack([r, f, m]))
    rows = [
        {"customer_id": x.customer_id, "recency_days": round(x.recency_days, 2),
         "frequency": x.frequency, "monetary": x.monetary, "r_score": int(r[i]),
         "f_score": int(f[i]), "m_score": int(m[i]), "segment": names[i], "computed_at": as_of}
        for i, x in enumerate(figures)
    ]
    for start in range(0, len(rows), 5000):
        session.execute(insert(CustomerSegment), rows[start:start + 5000])
    session.flush()
    return len(rows)


def summary(*, session: Session) -> Table:
    """Per segment: customers, average R/F/M and the money they brought."""
    s = CustomerSegment
    found = {r[0]: r for r in session.execute(
        select(s.segment, func.count(), func.avg(s.recency_days), func.avg(s.frequency),
               func.avg(s.monetary), func.sum(s.monetary), func.max(s.computed_at))
        .group_by(s.segment)).all()}
    table = Table("segments", ["segment", "customers", "avg_recency_days", "avg_frequency",
                               "avg_monetary", "total_monetary", "computed_at"])
    for name in SEGMENTS:
        if name in found:
            _, n, rec, freq, mon, total, at = found[name]
            table.rows.append([name, n, round(float(rec), 1), round(float(freq), 2),
                               round(float(mon), 2), round(float(total), 2),
                               at.isoformat() if at else None])
    return table


def points(*, session: Session, limit: int = 2000) -> Table:
    """An evenly spread sample of customers for the scatter plot (every n-th by id)."""
    s = CustomerSegment
    total = session.scalar(select(func.count()).select_from(s)) or 0
    step = max(1, -(-total // limit))
    stmt = select(s.customer_id, s.recency_days, s.frequency, s.monetary, s.segment)
    if step > 1:
        stmt = stmt.where(s.customer_id % step == 0)
    rows = session.execute(stmt.order_by(s.customer_id).limit(limit)).all()
    return Table("segment-points", ["customer_id", "recency_days", "frequency", "monetary",
                                    "segment"],
                 [[r[0], r[1], r[2], float(r[3]), r[4]] for r in rows])


def customers_in(*, session: Session, segment: str | None = None, limit: int | None = None,
                 offset: int = 0) -> tuple[Table, int]:
    """Customers with their RFM figures (optionally of one segment), most valuable first."""
    s = CustomerSegment
    conditions = [s.segment == segment] if segment else []
    total = session.scalar(select(func.count()).select_from(s).where(*conditions)) or 0
    stmt = (
        select(s.customer_id, Customer.name, Customer.email, Customer.company, s.segment,
               s.recency_days, s.frequency, s.monetary, s.r_score, s.f_score, s.m_score)
        .join(Customer, Customer.id == s.customer_id)
        .where(*conditions)
        .order_by(s.monetary.desc(), s.frequency.desc(), s.customer_id)
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    table = Table("segment-customers", ["customer_id", "name", "email", "company", "segment",
                                        "recency_days", "frequency", "monetary", "r", "f", "m"],
                  [[*r[:7], float(r[7]), *r[8:]] for r in session.execute(stmt).all()])
    return table, total


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: recompute the segments."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.segments", description=__doc__)
    parser.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    args = parser.parse_args(argv)
    from crm_store.db import make_engine, make_session_factory, session_scope, url_or_settings

    engine = make_engine(url_or_settings(args.url))
    try:
        with session_scope(make_session_factory(engine)) as session:
            count = recompute(session=session, actor=audit.service_actor("segments"))
            table = summary(session=session)
    finally:
        engine.dispose()
    print(f"crm_store: {count} customers segmented")
    for row in table.rows:
        print(f"  {row[0]:<10} {row[1]:>7} customers")


if __name__ == "__main__":
    main()
