"""Typing signals: the board's expiry and bounds, and the routes' hostile input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import typing
from bot.channels.typing import TypingBoard, Typist
from relay.app import create_app
from relay.settings import Settings
from tests.console.test_console import handed_off, login


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def test_signals_expire_and_sides_are_separate(monkeypatch: pytest.MonkeyPatch) -> None:
    board = TypingBoard()
    board.touch("web-1", Typist.AGENT, "Alex")
    assert board.typing("web-1", Typist.AGENT) == "Alex"
    assert board.typing("web-1", Typist.CUSTOMER) is None
    assert board.version == 1
    monkeypatch.setattr(typing, "FRESH_SECONDS", -1.0)
    assert board.typing("web-1", Typist.AGENT) is None


def test_a_flood_of_ids_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typing, "MAX_ENTRIES", 50)
    board = TypingBoard()
    for i in range(500):
        board.touch(f"web-{i}", Typist.CUSTOMER)
    assert len(board._seen) <= 50
    assert board.typing("web-499", Typist.CUSTOMER) == ""


def test_routes_refuse_bad_ids_csrf_and_strangers(client: TestClient,
                                                  sessions: sessionmaker[Session]) -> None:
    assert client.post(f"/chat/web-{uuid.uuid4().hex}/typing").status_code == 204
    assert client.post("/chat/web-nothex/typing").status_code == 400
    assert client.post("/chat/" + "a" * 5000 + "/typing").status_code == 400
    cid = handed_off(sessions)
    url = f"/console/api/conversations/{cid}/typing"
    assert client.post(url).status_code == 401
    csrf = login(client)
    assert client.post(url, data={}).status_code == 403
    assert client.post(url, data={"csrf": csrf}).status_code == 204
    assert client.post(f"/console/api/conversations/{'x' * 300}/typing",
                       data={"csrf": csrf}).status_code == 404
    messages = client.get(f"/console/api/conversations/{cid}/messages").json()
    assert messages["customer_typing"] is False
    client.post(f"/chat/{cid}/typing")
    assert client.get(f"/console/api/conversations/{cid}/messages").json()["customer_typing"]
    assert client.get(f"/console/api/conversations/{cid}/messages?after=-1").status_code == 422


def test_sending_ends_the_typing_signal(client: TestClient, sessions: sessionmaker[Session]
                                        ) -> None:
    """The customer's message (and the agent's reply) ends their "… is typing" at once, not
    FRESH_SECONDS later: the other side must not see "typing" under a message already sent."""
    cid = handed_off(sessions)
    client.post(f"/chat/{cid}/typing")
    csrf = login(client)
    assert client.get(f"/console/api/conversations/{cid}/messages").json()["customer_typing"]
    assert client.post(f"/chat/{cid}/messages", json={"text": "here it is"}).status_code == 200
    assert not client.get(f"/console/api/conversations/{cid}/messages").json()["customer_typing"]
    board = client.app.state.typing_board
    assert client.post(f"/console/api/conversations/{cid}/typing",
                       data={"csrf": csrf}).status_code == 204
    assert board.typing(cid, Typist.AGENT) is not None
    client.post(f"/console/conversations/{cid}/reply", data={"csrf": csrf, "text": "Thanks!"})
    assert board.typing(cid, Typist.AGENT) is None
