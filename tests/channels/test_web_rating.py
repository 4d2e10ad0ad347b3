"""The widget's rating route and what its history and stream say about messages: the agent's
first name and which notice a system message is; on real SQLite, with hostile input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit, support, users
from crm_store.models import SatisfactionRating
from relay.app import create_app
from relay.settings import Settings
from tests.channels.conftest import AGENT_EMAIL


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The real app with its lifespan running."""
    with TestClient(create_app(settings)) as client:
        yield client


def handed_off_and_back(sessions: sessionmaker[Session], *, resolve: bool = True,
                        conversation_id: str | None = None) -> str:
    """A conversation (a new widget one unless given) an agent (Alex) joined, answered and, if
    asked, resolved."""
    cid = conversation_id or f"web-{uuid.uuid4().hex}"
    with sessions.begin() as session:
        agent = users.get_by_email(session=session, email=AGENT_EMAIL)
        assert agent is not None
        support.request_handoff(session=session, conversation_id=cid, actor="relay-bot",
                                reason="asked", transcript="")
        support.reply(session=session, conversation_id=cid, agent_id=agent.id, actor="test",
                      text="Hello from support")
        if resolve:
            support.hand_back(session=session, conversation_id=cid, agent_id=agent.id,
                              agent_name=agent.name, actor="test")
    return cid


def test_history_names_the_agent_and_the_notices(client: TestClient,
                                                 sessions: sessionmaker[Session]) -> None:
    cid = handed_off_and_back(sessions)
    messages = client.get(f"/chat/{cid}/history").json()["messages"]
    kinds = [(m["author"], m.get("notice"), m.get("agent_name")) for m in messages]
    assert kinds == [("system", "agent-joined", None), ("agent", None, "Alex"),
                     ("system", "bot-back", None)]


def test_rating_is_stored_once_per_handoff_and_audited(client: TestClient,
                                                        sessions: sessionmaker[Session]) -> None:
    cid = handed_off_and_back(sessions)
    first = client.post(f"/chat/{cid}/rating", json={"score": 2})
    assert first.status_code == 201
    second = client.post(f"/chat/{cid}/rating", json={"score": 5, "comment": "  Great  "})
    assert second.status_code == 201 and second.json() == {"score": 5, "comment": "Great"}
    with sessions() as session:
        rows = session.scalars(select(SatisfactionRating).where(
            SatisfactionRating.conversation_id == cid)).all()
        assert [(r.score, r.comment) for r in rows] == [(5, "Great")]
        entries = audit.list_entries(session=session, entity="satisfaction_rating")
        assert {e.actor for e in entries} == {"service:web-widget"}


def test_history_says_when_a_rating_is_still_due(client: TestClient,
                                                 sessions: sessionmaker[Session]) -> None:
    """The widget asks for the rating when the "back with the assistant" notice streams in; a
    customer who was away then (or reloaded) is asked when the history says it is due."""
    open_one = handed_off_and_back(sessions, resolve=False)
    assert client.get(f"/chat/{open_one}/history").json()["rating_due"] is False
    cid = handed_off_and_back(sessions)
    assert client.get(f"/chat/{cid}/history").json()["rating_due"] is True
    assert client.post(f"/chat/{cid}/rating", json={"score": 4}).status_code == 201
    assert client.get(f"/chat/{cid}/history").json()["rating_due"] is False
    # A second handoff, resolved: its own rating is due again.
    handed_off_and_back(sessions, conversation_id=cid)
    assert client.get(f"/chat/{cid}/history").json()["rating_due"] is True
    fresh = f"web-{uuid.uuid4().hex}"
    assert client.get(f"/chat/{fresh}/history").json()["rating_due"] is False


@pytest.mark.parametrize("body", [
    {"score": 0}, {"score": 6}, {"score": "five"}, {"score": 2.5}, {},
    {"score": 3, "comment": "x" * 1001}, {"score": 3, "extra": 1}, [], "null",
])
def test_bad_ratings_are_422(client: TestClient, sessions: sessionmaker[Session],
                             body: object) -> None:
    cid = handed_off_and_back(sessions)
    response = client.post(f"/chat/{cid}/rating", json=body)
    assert response.status_code == 422, response.text


def test_nothing_to_rate_is_409_and_bad_ids_400_or_404(client: TestClient,
                                                       sessions: sessionmaker[Session]) -> None:
    open_one = handed_off_and_back(sessions, resolve=False)
    response = client.post(f"/chat/{open_one}/rating", json={"score": 4})
    assert response.status_code == 409 and "no resolved handoff" in response.json()["detail"]
    assert client.post(f"/chat/web-{uuid.uuid4().hex}/rating",
                       json={"score": 4}).status_code == 404
    for bad in ("web-xyz", "tg-1", "web-" + "a" * 5000):
        assert client.post(f"/chat/{bad}/rating", json={"score": 4}).status_code == 400
