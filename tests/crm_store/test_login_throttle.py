"""Login throttling: the counting rules, and the API's 429 after 5 failures in 15 minutes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import users
from crm_store.login_throttle import LoginThrottle, retry_message
from tests.crm_store.conftest import PASSWORD


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_failures_for_an_email_block_it_until_the_oldest_ages_out() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(4):
        throttle.failed(email="Ana@Example.com", address="10.0.0.1")
        clock.now += 60
    assert throttle.retry_after(email="ana@example.com", address="10.0.0.9") == 0
    throttle.failed(email="ana@example.com", address="10.0.0.2")
    # 15 minutes after the first failure, which was 4 minutes ago.
    assert throttle.retry_after(email="ANA@example.com", address="10.0.0.9") == 11 * 60
    assert throttle.retry_after(email="bob@example.com", address="10.0.0.9") == 0
    clock.now += 11 * 60
    assert throttle.retry_after(email="ana@example.com", address="10.0.0.9") == 0


def test_five_failures_from_one_address_block_every_email_from_it() -> None:
    throttle = LoginThrottle(clock=Clock())
    for n in range(5):
        throttle.failed(email=f"user{n}@example.com", address="10.0.0.1")
    assert throttle.retry_after(email="new@example.com", address="10.0.0.1") == 15 * 60
    assert throttle.retry_after(email="new@example.com", address="10.0.0.2") == 0


def test_success_clears_the_email_but_not_the_address() -> None:
    throttle = LoginThrottle(clock=Clock())
    for _ in range(4):
        throttle.failed(email="ana@example.com", address="10.0.0.1")
    throttle.succeeded(email="ana@example.com")
    throttle.failed(email="ana@example.com", address="10.0.0.2")
    assert throttle.retry_after(email="ana@example.com", address="10.0.0.2") == 0
    throttle.failed(email="bob@example.com", address="10.0.0.1")
    assert throttle.retry_after(email="carl@example.com", address="10.0.0.1") > 0


def test_retry_message_says_when() -> None:
    assert retry_message(30).endswith("Please try again in 1 minute.")
    assert retry_message(11 * 60).endswith("Please try again in 11 minutes.")


def test_api_login_answers_429_after_five_failures(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        users.ensure_user(session=session, email="ana@relay.local", name="Ana",
                          password=PASSWORD, role="agent")
    wrong = {"email": "ana@relay.local", "password": "not it"}
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    response = client.post("/api/v1/auth/login",
                           json={"email": "ana@relay.local", "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["detail"].endswith("Please try again in 15 minutes.")
    assert 14 * 60 < int(response.headers["Retry-After"]) <= 15 * 60
    spec = client.get("/openapi.json").json()
    assert "429" in spec["paths"]["/api/v1/auth/login"]["post"]["responses"]


def test_api_login_success_is_not_throttled(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:
        users.ensure_user(session=session, email="ana@relay.local", name="Ana",
                          password=PASSWORD, role="agent")
    right = {"email": "ana@relay.local", "password": PASSWORD}
    for _ in range(8):
        assert client.post("/api/v1/auth/login", json=right).status_code == 200
