"""Satisfaction ratings on real SQLite: one per handoff, and the Insights figure over them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_store import insights, ratings, support, users
from crm_store.errors import InvalidValue
from crm_store.models import utcnow


def resolved_handoff(session: Session, agent_id: int) -> str:
    cid = f"web-{uuid.uuid4().hex}"
    support.request_handoff(session=session, conversation_id=cid, actor="relay-bot",
                            reason="asked", transcript="")
    support.reply(session=session, conversation_id=cid, agent_id=agent_id, actor="t", text="hi")
    support.hand_back(session=session, conversation_id=cid, agent_id=agent_id, agent_name="A",
                      actor="t")
    return cid


def test_ratings_and_the_satisfaction_figure(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        ann = users.create_user(session=session, email="ann@relay.test", name="Ann",
                                password="long-enough-pw").id
        bob = users.create_user(session=session, email="bob@relay.test", name="Bob",
                                password="long-enough-pw").id
        for agent_id, score in ((ann, 5), (ann, 4), (bob, 1)):
            cid = resolved_handoff(session, agent_id)
            ratings.rate(session=session, conversation_id=cid, score=score, comment=None,
                         actor="service:web-widget")
        with pytest.raises(InvalidValue):
            ratings.rate(session=session, conversation_id=cid, score=9, comment=None,
                         actor="t")
        still_open = f"web-{uuid.uuid4().hex}"
        support.request_handoff(session=session, conversation_id=still_open, actor="relay-bot",
                                reason="asked", transcript="")
        with pytest.raises(ratings.NothingToRate):
            ratings.rate(session=session, conversation_id=still_open, score=3, comment=None,
                         actor="t")
    today = utcnow().date()
    scope = insights.Scope.from_days(today - timedelta(days=1), today)
    with sessions() as session:
        rows = {r[1]: r[2:] for r in insights.satisfaction(session=session, scope=scope).rows}
        assert rows == {"Ann": [2, 4.5, 100.0], "Bob": [1, 1.0, 0.0],
                        "all agents": [3, 3.33, 66.7]}
        mine = insights.satisfaction(session=session, scope=insights.Scope(
            start=scope.start, end=scope.end, agent_id=bob)).rows
        assert mine == [[bob, "Bob", 1, 1.0, 0.0]]
