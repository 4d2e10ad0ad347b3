"""Engine set-up, session_scope, the migrate CLI and the idempotent seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from crm_store import migrate, users
from crm_store.db import make_engine, session_scope
from crm_store.models import Customer, Interaction, Lead, User
from crm_store.seed import DEMO_ADMIN_EMAIL, seed
from relay.settings import Settings


def test_sqlite_engine_pragmas_and_parent_dir(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 15000
        assert (tmp_path / "nested" / "dir").is_dir()
    finally:
        engine.dispose()


def test_session_scope_commits_or_rolls_back(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as session:
        session.add(Customer(name="kept"))
    with pytest.raises(RuntimeError), session_scope(sessions) as session:
        session.add(Customer(name="dropped"))
        raise RuntimeError("boom")
    with sessions() as session:
        assert session.scalars(select(Customer.name)).all() == ["kept"]


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), session_scope(sessions) as session:
        session.add(
            Interaction(
                conversation_id="nope",
                channel="web",
                direction="inbound",
                author="customer",
                text="x",
            )
        )


def test_migrate_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli' / 'relay.db'}"
    migrate.main(["--url", url])
    assert "is at revision head" in capsys.readouterr().out
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def _counts(sessions: sessionmaker[Session]) -> tuple[int, int, int, int]:
    with sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model))
            for model in (Customer, Interaction, Lead, User)
        )


def test_seed_is_idempotent_and_creates_demo_users(
    database_url: str, engine: Engine, sessions: sessionmaker[Session], settings: Settings
) -> None:
    assert seed(url=database_url, settings=settings) == (
        3,
        [settings.demo_agent_email, DEMO_ADMIN_EMAIL],
    )
    first = _counts(sessions)
    assert seed(url=database_url, settings=settings)[0] == 0
    assert _counts(sessions) == first
    assert first[0] == 3 and first[1] >= 6 and first[2] == 1 and first[3] == 2
    with sessions() as session:
        agent = users.authenticate(
            session=session, email=settings.demo_agent_email, password=settings.demo_agent_password
        )
        assert agent is not None and agent.role == "agent"


def test_seed_outside_development_creates_nothing(
    database_url: str, engine: Engine, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """No demo users, and no demo customers either: their widget conversations' ids are in the
    source, so anyone could read "Ada's" transcript at /chat/web-5eed…/history."""
    production = settings.model_copy(update={"env": "production"})
    assert seed(url=database_url, settings=production) == (0, [])
    assert _counts(sessions) == (0, 0, 0, 0)


def test_users_cli_creates_agents_and_hashed_tokens(
    database_url: str,
    engine: Engine,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RELAY_NEW_USER_PASSWORD", "s3cret-pass")
    assert (
        users.main(["--url", database_url, "create-user", "Ann@Relay.local", "--name", "Ann"]) == 0
    )
    assert (
        users.main(["--url", database_url, "create-user", "ann@relay.local", "--name", "Ann"]) == 2
    )
    assert users.main(["--url", database_url, "create-token", "broker", "--role", "agent"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with sessions() as session:
        assert users.authenticate(session=session, email="ann@relay.local", password="s3cret-pass")
        row = users.find_service_token(session=session, token=token)
        assert row is not None and row.token_hash != token and row.role == "agent"
        assert users.find_service_token(session=session, token=token + "x") is None


def test_the_demo_has_canned_replies_once_and_an_admins_set_is_left_alone(
    database_url: str, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """The console's canned-reply picker appears only when there are some: the demo
    (development, with its history) starts with a few; seeding again adds none."""
    from crm_store import canned
    from crm_store.models import CannedReply

    development = settings.model_copy(update={"env": "development"})
    seed(url=database_url, settings=development)
    with sessions() as session:
        titles = list(session.scalars(select(CannedReply.title).order_by(CannedReply.id)))
        assert titles == ["Hello", "Looking into it", "Anything else?", "Closing"]
        body = session.scalars(select(CannedReply.body)).first() or ""
        assert canned.render(body, customer=None, agent_name="Sam Lee").startswith(
            "Hi there, this is Sam from support.")
    with sessions.begin() as session:
        session.execute(delete(CannedReply).where(CannedReply.title != "Hello"))
    seed(url=database_url, settings=development)
    with sessions() as session:
        assert list(session.scalars(select(CannedReply.title))) == ["Hello"]
