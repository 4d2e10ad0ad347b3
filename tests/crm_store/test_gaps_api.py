"""Knowledge gaps and reply suggestions through the API, with the real encoder and FAQ index.

The questions arrive the way production records them (Rasa events through the ingest), the
mining runs as the page starts it, and a cluster turned into an entry is answered by the
rebuilt index. SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit, gaps, interactions
from crm_store.ingest import ingest_rasa_events
from crm_store.models import GapCluster
from knowledge.runtime.engine import FaqEngine
from relay.app import create_app
from relay.settings import ROOT, Settings, packaged_model_path
from tests.crm_store.conftest import SERVICE_TOKEN, _login
from tests.crm_store.test_faq_outcomes import question
from tests.crm_store.test_ingest import RASA, bot

JOBS = ["are you hiring", "do you have job openings", "can I work for you",
        "any open positions at your company", "Are you hiring?"]
AGENT_ANSWER = "We are! See nimbusdrive.example/careers for open positions."
T0 = 1_780_000_000.0  # inside the mining window only if "now" is near it: tests pass `now`


@pytest.fixture
def knowledge_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The CRM test settings with a private copy of the demo FAQ and its built index."""
    faq = tmp_path / "faq"
    shutil.copytree(ROOT / "knowledge" / "faq", faq)
    index = tmp_path / "index"
    shutil.copytree(ROOT / "var" / "index", index)
    if (ROOT / "var" / "index-cache").exists():
        shutil.copytree(ROOT / "var" / "index-cache", tmp_path / "index-cache")
    return settings.model_copy(update={
        "faq_paths": [faq], "index_dir": index, "models_dir": ROOT / "var" / "models",
        "embedding_model": packaged_model_path(),
    })


@pytest.fixture
def app_client(knowledge_settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(knowledge_settings, console=False, channels=False)) as client:
        yield client


def ask(sessions: sessionmaker[Session], sender: str, texts: list[str], ts: float,
        agent_reply: str | None = None) -> None:
    """A conversation where the bot declines each text (and a person answers, if given)."""
    events: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        events += [question(sender, text, ts + 2 * i),
                   bot(sender, "I'm not sure.", ts + 2 * i + 1, utter_action="utter_not_sure")]
    if agent_reply:
        events.append({"event": "pause", "sender_id": sender, "timestamp": ts + 99})
    with sessions.begin() as session:
        ingest_rasa_events(session=session, events=events, actor=RASA)
        if agent_reply:
            interactions.record(session=session, conversation_id=sender, direction="outbound",
                                author="agent", text=agent_reply)


def test_mine_apply_and_answer(
    app_client: TestClient, sessions: sessionmaker[Session], knowledge_settings: Settings,
    agent_headers: dict[str, str], viewer_headers: dict[str, str],
) -> None:
    import time

    now = time.time()
    ask(sessions, "web-gap1", JOBS[:3], now - 3600, agent_reply=AGENT_ANSWER)
    ask(sessions, "web-gap2", JOBS[3:], now - 600)
    ask(sessions, "web-gap3", ["How do I reset my password?"], now - 300)  # the FAQ knows it
    manager = _login(app_client, sessions, "manager")

    assert app_client.post("/api/v1/insights/gaps/runs", headers=viewer_headers
                           ).status_code == 403
    started = app_client.post("/api/v1/insights/gaps/runs", headers=manager)
    assert started.status_code == 202, started.text
    run = app_client.get(f"/api/v1/insights/gaps/runs/{started.json()['id']}",
                         headers=manager).json()
    assert run["status"] == "done", run["error"]
    assert run["params"]["dropped_answered"] == 1  # the password question is answered now

    body = app_client.get("/api/v1/insights/gaps", headers=manager).json()
    jobs = next(c for c in body["clusters"] if "are you hiring" in c["draft_questions"])
    assert jobs["size"] == len(JOBS) and jobs["suggestion"] == "new"
    assert jobs["agent_answer"] == AGENT_ANSWER and jobs["draft_answer"] == AGENT_ANSWER
    assert jobs["weekly"][-1] == len(JOBS) and jobs["nearest_entry_id"]
    exported = app_client.get("/api/v1/insights/gaps", params={"format": "csv"},
                              headers=manager)
    assert exported.text.splitlines()[0].startswith("id,label,size")
    assert app_client.get("/api/v1/insights/gaps", headers=agent_headers).status_code == 403

    engine = FaqEngine.from_settings(knowledge_settings)
    assert engine.decide("are you hiring").kind != "answer"
    build_before = engine.manifest.build_id
    applied = app_client.post(
        f"/api/v1/insights/gaps/clusters/{jobs['id']}/apply", headers=manager,
        json={"mode": "new", "entry_id": "jobs", "questions": jobs["draft_questions"],
              "answer": AGENT_ANSWER, "tags": ["company"]})
    assert applied.status_code == 200, applied.text
    assert applied.json()["source"] == "learned.yml"
    # The index was rebuilt; an engine that was running picks it up and answers.
    assert engine.reload_if_changed() and engine.manifest.build_id != build_before
    decision = engine.decide("are you hiring")
    assert decision.kind == "answer" and decision.hits[0].entry_id == "jobs"
    again = app_client.post(f"/api/v1/insights/gaps/clusters/{jobs['id']}/apply",
                            headers=manager, json={"mode": "paraphrases", "entry_id": "jobs",
                                                   "questions": ["x"]})
    assert again.status_code == 409 and "already applied" in again.json()["detail"]
    with sessions() as session:
        entry = audit.list_entries(session=session, entity="faq_entry", limit=1)[0]
        assert (entry.action, entry.entity_id) == ("add_entry", "jobs")
        assert entry.after is not None and entry.after["gap_cluster_id"] == jobs["id"]
        assert entry.actor.startswith("user:")

    # Mined again: the topic is filled, so it is no gap any more.
    rerun = app_client.post("/api/v1/insights/gaps/runs", headers=manager).json()
    assert rerun["id"] != started.json()["id"]
    after = app_client.get("/api/v1/insights/gaps", headers=manager).json()
    assert all("are you hiring" not in c["draft_questions"] for c in after["clusters"])


def test_bad_actions_are_refused_with_a_reason(
    app_client: TestClient, sessions: sessionmaker[Session],
) -> None:
    manager = _login(app_client, sessions, "manager")
    with sessions.begin() as session:
        run = gaps.start_run(session=session, trigger="manual", actor="test")
        run.status = "done"
        cluster = GapCluster(run_id=run.id, label="x", size=2, weekly=[2], trend=0.0,
                             questions=[{"id": 1, "text": "x", "at": "", "outcome": None}])
        session.add(cluster)
        session.flush()
        cid = cluster.id
    url = f"/api/v1/insights/gaps/clusters/{cid}"
    cases = [
        ({"mode": "paraphrases", "entry_id": "no-such-entry", "questions": ["hi"]}, 409,
         "no FAQ entry"),
        ({"mode": "new", "entry_id": "share-link", "questions": ["hi"], "answer": "a"}, 409,
         "exists already"),
        ({"mode": "new", "entry_id": "brand-new", "questions": ["hi"]}, 422, "needs an answer"),
        ({"mode": "new", "entry_id": "Not A Slug", "questions": ["hi"], "answer": "a"}, 422,
         "entry_id"),
        ({"mode": "new", "entry_id": "ok", "questions": [], "answer": "a"}, 422, "questions"),
    ]
    for body, code, says in cases:
        response = app_client.post(f"{url}/apply", headers=manager, json=body)
        assert response.status_code == code, (body, response.text)
        assert says in response.json()["detail"], response.text
    assert app_client.post(f"{url}/dismiss", headers=manager).json()["status"] == "dismissed"
    assert app_client.post(f"{url}/dismiss", headers=manager).status_code == 409
    assert app_client.post("/api/v1/insights/gaps/clusters/999999/dismiss",
                           headers=manager).status_code == 404
    with sessions.begin() as session:
        gaps.start_run(session=session, trigger="manual", actor="test")
    busy = app_client.post("/api/v1/insights/gaps/runs", headers=manager)
    assert busy.status_code == 409 and "in progress" in busy.json()["detail"]


def test_reply_suggestions_for_the_customers_last_messages(
    app_client: TestClient, sessions: sessionmaker[Session], agent_headers: dict[str, str],
    viewer_headers: dict[str, str],
) -> None:
    ask(sessions, "web-suggest", ["hi", "I forgot my password and the reset mail never came"],
        T0, agent_reply="Let me check.")
    url = "/api/v1/conversations/web-suggest/suggestions"
    body = app_client.get(url, headers=agent_headers).json()
    assert body["messages"][0].startswith("I forgot my password")
    top = body["suggestions"][0]
    assert top["entry_id"] == "reset-password" and "Forgot password" in top["answer"]
    assert top["for_message"] == body["messages"][0] and len(body["suggestions"]) <= 3
    assert app_client.get(url, headers=viewer_headers).status_code == 403
    assert app_client.get("/api/v1/conversations/web-nobody/suggestions",
                          headers=agent_headers).status_code == 404
    system = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    assert app_client.get(url, params={"k": 1}, headers=system).json()["suggestions"][0][
        "entry_id"] == "reset-password"
