"""Login throttling: the counting rules, and the API's 429 after 5 failures in 15 minutes."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import users
from crm_store.login_throttle import LoginThrottle, retry_message
from crm_store.migrate import upgrade
from relay.settings import Settings
from relay.stack import api_service, child_env
from tests.crm_store.conftest import PASSWORD


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_wrong_passwords_from_elsewhere_do_not_lock_the_agent_out() -> None:
    """Five wrong passwords typed from another address leave the agent's own login alone
    (issue 15, #8)."""
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(5):
        throttle.failed(email="ana@example.com", address="10.6.6.6")
    assert throttle.retry_after(email="ana@example.com", address="10.6.6.6") == 15 * 60
    assert throttle.retry_after(email="ANA@example.com", address="10.0.0.9") == 0


def test_many_failures_for_an_email_from_many_addresses_block_it_until_they_age_out() -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    for n in range(49):
        throttle.failed(email="Ana@Example.com", address=f"10.0.{n}.1")
        clock.now += 5
    assert throttle.retry_after(email="ana@example.com", address="10.0.0.9") == 0
    throttle.failed(email="ana@example.com", address="10.9.9.9")
    # 15 minutes after the first failure, which was 49 times 5 s ago.
    assert throttle.retry_after(email="ANA@example.com", address="10.0.0.9") == 15 * 60 - 245
    assert throttle.retry_after(email="bob@example.com", address="10.0.0.9") == 0
    clock.now += 15 * 60
    assert throttle.retry_after(email="ana@example.com", address="10.0.0.9") == 0


def test_five_failures_from_one_address_block_every_email_from_it() -> None:
    throttle = LoginThrottle(clock=Clock())
    for n in range(5):
        throttle.failed(email=f"user{n}@example.com", address="10.0.0.1")
    assert throttle.retry_after(email="new@example.com", address="10.0.0.1") == 15 * 60
    assert throttle.retry_after(email="new@example.com", address="10.0.0.2") == 0


def test_success_clears_the_email_but_not_the_address() -> None:
    throttle = LoginThrottle(clock=Clock(), max_email_failures=5)
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


@pytest.mark.integration
def test_a_forged_forwarded_for_does_not_escape_the_throttle(tmp_path: Path) -> None:
    """The real API process counts the TCP peer, whatever X-Forwarded-For says (issue 15, #8)."""
    from tests.conftest import free_port

    settings = Settings(env="test", data_dir=tmp_path, api_port=free_port(), secret_key="k",
                        service_token="s", rasa_token="r")
    upgrade(settings.database_url)
    api = api_service(settings, tmp_path)
    api.start(child_env(settings))
    try:
        deadline = time.monotonic() + 60
        while not api.answers():
            assert api.exited() is None and time.monotonic() < deadline, api.log_tail()
            time.sleep(0.3)
        codes = [httpx.post(f"{settings.api_url}/api/v1/auth/login",
                            json={"email": f"x{n}@relay.local", "password": "wrong-password"},
                            headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                 for n in range(7)]
    finally:
        api.stop()
    assert codes == [401] * 5 + [429] * 2
