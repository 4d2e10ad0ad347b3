"""RFM scores and k-means loyalty segments (crm_store.segments), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import get_args

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit, conversations, customers, interactions, leads, segments
from crm_store.models import Conversation, utcnow
from tests.crm_store.conftest import _login

ACTOR = "service:segments-test"

# name -> (days since last message, conversations in the last year, won value or None)
PEOPLE = {
    # Bought a lot, write often, wrote yesterday.
    **{f"champ{i}": (1 + i % 3, 6 + i % 3, "9000") for i in range(6)},
    # Write often, recently, bought a little.
    **{f"loyal{i}": (5 + i % 4, 4 + i % 2, "400") for i in range(6)},
    # First message this week, bought nothing yet.
    **{f"new{i}": (1 + i % 2, 1, None) for i in range(6)},
    # Bought and wrote a lot, but not for months.
    **{f"risk{i}": (150 + 10 * i, 4 + i % 2, "5000") for i in range(6)},
    # One conversation long ago, nothing bought.
    **{f"dormant{i}": (300 + 5 * i, 1, None) for i in range(6)},
}


def build(session: Session) -> dict[str, int]:
    """PEOPLE as customers with conversations, messages and won leads."""
    now = utcnow()
    ids = {}
    for name, (days_ago, n_conversations, won) in PEOPLE.items():
        customer = customers.create(session=session, actor=ACTOR, name=name,
                                    email=f"{name}@example.com")
        ids[name] = customer.id
        for k in range(n_conversations):
            cid = f"web-{name}-{k}"
            at = now - timedelta(days=days_ago + 3 * k)
            conversations.get_or_create(session=session, conversation_id=cid)
            session.get_one(Conversation, cid).created_at = at
            conversations.link_customer(session=session, conversation_id=cid,
                                        customer_id=customer.id, actor=ACTOR)
            interactions.record(session=session, conversation_id=cid, direction="inbound",
                                author="customer", text="hello", created_at=at)
        if won:
            lead, _ = leads.open_or_update_lead(session=session, customer_id=customer.id,
                                                expected_value=won, changed_by=ACTOR)
            leads.move_stage(session=session, lead_id=lead.id, to_stage="won", changed_by="t")
    # A visitor who never wrote and bought nothing has no segment.
    customers.create(session=session, actor=ACTOR, name="silent", email="silent@example.com")
    # A won lead without a value counts at the list price of the plan it names.
    plan_only = customers.create(session=session, actor=ACTOR, name="plan",
                                 email="plan@example.com")
    lead, _ = leads.open_or_update_lead(session=session, customer_id=plan_only.id,
                                        interest="Business plan", changed_by=ACTOR)
    leads.move_stage(session=session, lead_id=lead.id, to_stage="won", changed_by="t")
    ids["plan"] = plan_only.id
    session.flush()
    return ids


def test_scores_rank_with_ties_and_zeros() -> None:
    assert segments.scores(np.array([1.0, 2, 3, 4, 5])).tolist() == [1, 2, 3, 4, 5]
    assert segments.scores(np.array([1.0, 2, 3, 4, 5]), higher_is_better=False).tolist() == [
        5, 4, 3, 2, 1]
    assert segments.scores(np.array([0.0, 0, 7, 7]), zero_is_lowest=True).tolist() == [1, 1, 4, 4]
    assert segments.scores(np.zeros(3), zero_is_lowest=True).tolist() == [1, 1, 1]


def test_clusters_take_the_name_of_the_nearest_prototype() -> None:
    rng = np.random.default_rng(0)
    centres = np.array(list(segments.PROTOTYPES.values()))
    points = np.vstack([c + rng.normal(0, 0.2, size=(20, 3)) for c in centres])
    names = segments.cluster(points)
    for i, expected in enumerate(segments.SEGMENTS):
        assert set(names[i * 20:(i + 1) * 20]) == {expected}
    # Fewer distinct points than segments: still one name per cluster.
    assert segments.cluster(np.array([[5, 5, 5], [1, 1, 1], [5, 5, 5]])) == [
        "champions", "dormant", "champions"]


def test_recompute_segments_customers_by_behaviour(session: Session) -> None:
    ids = build(session)
    count = segments.recompute(session=session, actor=ACTOR)
    assert count == len(PEOPLE) + 1
    # Whoever recomputes (the API, the nightly job, the seed) is in the audit log.
    [entry] = audit.list_entries(session=session, entity=segments.ENTITY)
    assert (entry.actor, entry.after) == (ACTOR, {"customers": count})
    table, total = segments.customers_in(session=session)
    by_name = {r["name"]: r for r in table.records()}
    assert "silent" not in by_name and total == count
    assert by_name["plan"]["monetary"] == 150.0
    for name in PEOPLE:
        expected = {"champ": "champions", "loyal": "loyal", "new": "new", "risk": "at risk",
                    "dormant": "dormant"}[name.rstrip("0123456789")]
        assert by_name[name]["segment"] == expected, (name, by_name[name])
    summary = {r["segment"]: r for r in segments.summary(session=session).records()}
    assert summary["champions"]["customers"] >= 6
    assert summary["champions"]["avg_monetary"] > summary["loyal"]["avg_monetary"]
    found, n = customers.search(session=session, segment="at risk", limit=100)
    assert n == 6 and {c.id for c in found} == {ids[f"risk{i}"] for i in range(6)}
    sample = segments.points(session=session, limit=10)
    assert 0 < len(sample.rows) <= 10
    assert Decimal(str(sample.rows[0][3])) >= 0


def test_segment_names_match_the_api_type() -> None:
    assert get_args(segments.SegmentName) == segments.SEGMENTS


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        ids = build(session)
        segments.recompute(session=session, actor=ACTOR)
        return ids


def test_segment_api_filter_export_and_refresh(
    client: TestClient, sessions: sessionmaker[Session], filled: dict[str, int],
    agent_headers: dict[str, str], viewer_headers: dict[str, str],
) -> None:
    manager = _login(client, sessions, "manager")
    page = client.get("/api/v1/customers", params={"segment": "dormant"},
                      headers=manager).json()
    assert page["total"] == 6 and {c["name"] for c in page["items"]} == {
        f"dormant{i}" for i in range(6)}
    assert client.get("/api/v1/customers", params={"segment": "vip"},
                      headers=manager).status_code == 422
    exported = client.get("/api/v1/insights/segments/customers", headers=manager,
                          params={"segment": "at risk", "format": "csv"})
    assert exported.status_code == 200 and "at-risk" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 6 and {r["segment"] for r in rows} == {"at risk"}
    summary = client.get("/api/v1/insights/segments", headers=manager).json()
    assert [r["segment"] for r in summary["rows"]] == list(segments.SEGMENTS)
    points = client.get("/api/v1/insights/segments/points", headers=manager).json()
    assert len(points["rows"]) == len(PEOPLE) + 1
    # Agents do not see the team's customers by segment; viewers may look but not recompute.
    assert client.get("/api/v1/insights/segments", headers=agent_headers).status_code == 403
    assert client.get("/api/v1/insights/segments", headers=viewer_headers).status_code == 200
    assert client.post("/api/v1/insights/segments/refresh",
                       headers=viewer_headers).status_code == 403
    refreshed = client.post("/api/v1/insights/segments/refresh", headers=manager)
    assert refreshed.status_code == 200
    with sessions() as session:
        entry = audit.list_entries(session=session, entity="segments", limit=1)[0]
        assert entry.action == "recompute" and entry.after == {"customers": len(PEOPLE) + 1}
        assert entry.actor.startswith("user:")
