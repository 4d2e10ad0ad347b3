"""The console's merge route: hostile input, wrong ids, a missing CSRF token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from relay.app import create_app
from relay.settings import Settings
from tests.console.test_console import login
from tests.crm_store.test_customer_merge import two_records

JSON = {"Accept": "application/json"}


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def test_merge_route_hostile_input(client: TestClient, sessions: sessionmaker[Session]) -> None:
    web_id, tg_id, _, _ = two_records(sessions)
    csrf = login(client)
    url = f"/console/customers/{web_id}/merge"
    for other in ("", "999999", "nobody@example.com", "x" * 321, "9" * 40, "<script>"):
        response = client.post(url, data={"csrf": csrf, "other": other}, headers=JSON)
        assert response.status_code == 422, other
    assert client.post(url, data={"csrf": csrf, "other": str(web_id)},
                       headers=JSON).status_code == 422  # itself
    assert client.post(url, data={"other": str(tg_id)}, headers=JSON).status_code == 403
    assert client.post("/console/customers/0/merge", data={"csrf": csrf, "other": "1"},
                       headers=JSON).status_code == 422
    merged = client.post(url, data={"csrf": csrf, "other": str(tg_id)}, headers=JSON)
    assert merged.status_code == 200 and merged.json()["customer"]["phone"] == "+442079460958"
