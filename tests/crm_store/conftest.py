"""Database fixtures for the CRM tests: real migrations on SQLite and, if configured, PostgreSQL.

PostgreSQL runs when RELAY_TEST_POSTGRES_URL is set (e.g.
postgresql+psycopg://relay:relay@127.0.0.1:5432/relay_test); each test gets its own schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from crm_store import users
from crm_store.db import make_engine, make_session_factory
from crm_store.migrate import upgrade
from relay.app import create_app
from relay.settings import Settings
from tests.conftest import missing_service

POSTGRES_ENV = "RELAY_TEST_POSTGRES_URL"
SERVICE_TOKEN = "test-service-token"
PASSWORD = "correct horse battery"


def _postgres_schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh schema in the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('crm') / 'crm.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        missing_service(
            f"set {POSTGRES_ENV}=postgresql+psycopg://user:pass@host/db to run on PostgreSQL"
        )
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head by the real Alembic migrations."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session for repository tests; whatever it did not commit is rolled back."""
    with sessions() as session:
        yield session
        session.rollback()


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return Settings(
        env="test",
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key="test-secret-key",
        service_token=SERVICE_TOKEN,
        rasa_token="test-rasa-token",
        embedding_model="unused-in-crm-tests",
    )


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The API (without console/channels routers) on the migrated database."""
    with TestClient(create_app(settings, console=False, channels=False)) as test_client:
        yield test_client


def _login(client: TestClient, sessions: sessionmaker[Session], role: str) -> dict[str, str]:
    email = f"{role}@relay.local"
    with sessions.begin() as session:
        users.ensure_user(
            session=session, email=email, name=role.title(), password=PASSWORD, role=role
        )
    response = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def system_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def agent_headers(client: TestClient, sessions: sessionmaker[Session]) -> dict[str, str]:
    return _login(client, sessions, "agent")


@pytest.fixture
def viewer_headers(client: TestClient, sessions: sessionmaker[Session]) -> dict[str, str]:
    return _login(client, sessions, "viewer")


@pytest.fixture
def admin_headers(client: TestClient, sessions: sessionmaker[Session]) -> dict[str, str]:
    return _login(client, sessions, "admin")
