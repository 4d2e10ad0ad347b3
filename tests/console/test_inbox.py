"""The live inbox's routes and repository on real SQLite: views, search, JSON answers to the
page's fetches, the record editor, leads and cases — and hostile
input on each (bad ids, huge strings, missing CSRF, not logged in: a clear 4xx, never a 500)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from crm_store import agent_inbox, audit, cases, customers, interactions, leads, support, users
from crm_store.agent_inbox import InboxView
from crm_store.models import Conversation
from relay.app import create_app
from relay.settings import Settings
from tests.console.test_console import handed_off, login

JSON = {"Accept": "application/json"}


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The real app with its lifespan running."""
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client


def agent_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        user = users.get_by_email(session=session, email="agent@relay.test")
        assert user is not None
        return user.id


def ids(rows: list[Any]) -> set[str]:
    return {row.id for row in rows}


def test_views_list_what_they_say(sessions: sessionmaker[Session]) -> None:
    me = agent_id(sessions)
    waiting, mine, theirs, done = (handed_off(sessions) for _ in range(4))
    with sessions.begin() as session:
        other = users.create_user(session=session, email="other@relay.test", name="Other",
                                  password="another-long-password").id
        support.claim(session=session, conversation_id=mine, agent_id=me, actor="test")
        support.claim(session=session, conversation_id=theirs, agent_id=other, actor="test")
        support.claim(session=session, conversation_id=done, agent_id=me, actor="test")
        support.hand_back(session=session, conversation_id=done, agent_id=me, agent_name="A",
                          actor="test")
    with sessions() as session:
        def view(v: InboxView, q: str | None = None) -> set[str]:
            return ids(agent_inbox.list_conversations(session=session, view=v, agent_id=me,
                                                      query=q))

        assert view(InboxView.MINE) == {mine}
        assert waiting in view(InboxView.UNASSIGNED) and mine not in view(InboxView.UNASSIGNED)
        assert {waiting, mine, theirs} <= view(InboxView.ALL) and done not in view(InboxView.ALL)
        assert done in view(InboxView.RESOLVED) and waiting not in view(InboxView.RESOLVED)


def test_open_views_put_the_longest_waiting_first_resolved_the_latest_first(
    sessions: sessionmaker[Session],
) -> None:
    """Agents work the queue from the top: the overdue conversation must be there, not below
    every newer one."""
    from datetime import timedelta

    from sqlalchemy import update

    from crm_store.models import utcnow

    me = agent_id(sessions)
    older, newer = handed_off(sessions), handed_off(sessions)
    done_before, done_after = handed_off(sessions), handed_off(sessions)
    with sessions.begin() as session:
        for cid, minutes in ((older, 30), (newer, 2), (done_before, 60), (done_after, 10)):
            session.execute(update(Conversation).where(Conversation.id == cid).values(
                handoff_at=utcnow() - timedelta(minutes=minutes)))
        for cid in (done_before, done_after):
            support.claim(session=session, conversation_id=cid, agent_id=me, actor="test")
            support.hand_back(session=session, conversation_id=cid, agent_id=me,
                              agent_name="A", actor="test")
    with sessions() as session:
        def order(view: InboxView, wanted: set[str]) -> list[str]:
            return [c.id for c in agent_inbox.list_conversations(
                session=session, view=view, agent_id=me) if c.id in wanted]

        assert order(InboxView.ALL, {older, newer}) == [older, newer]
        assert order(InboxView.UNASSIGNED, {older, newer}) == [older, newer]
        assert order(InboxView.RESOLVED, {done_before, done_after}) == [done_after, done_before]


def test_search_matches_messages_customers_and_takes_wildcards_literally(
        sessions: sessionmaker[Session]) -> None:
    me = agent_id(sessions)
    plain = handed_off(sessions)
    known = handed_off(sessions, with_customer=True)
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id=plain, direction="inbound",
                            author="customer", text="my Quokka_invoice is 100% wrong")
    with sessions() as session:
        def found(q: str) -> set[str]:
            return ids(agent_inbox.list_conversations(session=session, view=InboxView.ALL,
                                                agent_id=me, query=q))

        assert plain in found("quokka_INVOICE") and known not in found("quokka_invoice")
        assert found("100%") == {plain}
        assert found("quokka%invoice") == set()  # % is a character, not a wildcard
        assert known in found("dana ruiz") and plain not in found("dana ruiz")
        assert found("dana quokka") == set()  # every word must match
        assert plain in found(plain[-10:])  # the conversation id
        assert found("x" * 5000) == set()  # long input is cut, not an error


def test_search_finds_a_conversation_by_the_case_number_the_customer_was_given(
        sessions: sessionmaker[Session]) -> None:
    me = agent_id(sessions)
    cid = handed_off(sessions)
    handed_off(sessions)  # another case: "#n" must not find it
    with sessions() as session:
        [case] = cases.list_open_for_conversation(session=session, conversation_id=cid)

        def found(q: str) -> set[str]:
            return ids(agent_inbox.list_conversations(session=session, view=InboxView.ALL,
                                                      agent_id=me, query=q))

        for query in (f"case {case.id}", f"#{case.id}", f"Case #{case.id}"):
            assert found(query) == {cid}, query
        assert cid in found(str(case.id))  # a bare number: the case, and ids or messages
        assert found("9" * 40) == set()  # beyond any id: nothing, not an error


def test_queue_json_views_and_hostile_parameters(client: TestClient,
                                                 sessions: sessionmaker[Session]) -> None:
    assert client.get("/console/api/queue").status_code == 401
    assert client.get("/console/api/changes").status_code == 401
    cid = handed_off(sessions)
    login(client)
    body = client.get("/console/api/queue?view=unassigned").json()
    item = next(i for i in body["queue"] if i["id"] == cid)
    assert item["first_reply_due"] and item["status"] == "handoff"
    assert client.get("/console/api/queue?view=mine").json()["queue"] == []
    for bad in ("view=everything", "view=", f"q={'x' * 201}", "view=%00"):
        response = client.get(f"/console/api/queue?{bad}")
        assert response.status_code == 422, bad
        assert "detail" in response.json()
    page = client.get("/console/?view=resolved&q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text


def test_actions_answer_json_to_the_page(client: TestClient,
                                         sessions: sessionmaker[Session]) -> None:
    cid = handed_off(sessions)
    csrf = login(client)
    url = f"/console/conversations/{cid}"
    empty = client.post(f"{url}/reply", data={"csrf": csrf, "text": "   "}, headers=JSON)
    assert empty.status_code == 422 and empty.json()["outcome"] == "empty"
    huge = client.post(f"{url}/reply", data={"csrf": csrf, "text": "x" * 4001}, headers=JSON)
    assert huge.status_code == 422 and huge.json()["outcome"] == "too-long"
    sent = client.post(f"{url}/reply", data={"csrf": csrf, "text": "Hi there"}, headers=JSON)
    assert sent.status_code == 200 and sent.json()["outcome"] == "replied"
    no_csrf = client.post(f"{url}/note", data={"text": "x"}, headers=JSON)
    assert no_csrf.status_code == 403
    unknown = client.post("/console/conversations/web-nope/claim", data={"csrf": csrf},
                          headers=JSON)
    assert unknown.status_code == 404
    resolved = client.post(f"{url}/resolve", data={"csrf": csrf}, headers=JSON)
    assert resolved.status_code == 200 and resolved.json()["outcome"] == "resolved"
    again = client.post(f"{url}/resolve", data={"csrf": csrf}, headers=JSON)
    assert again.status_code == 409 and again.json()["outcome"] == "not-waiting"
    # Without the JSON Accept header the forms still redirect (no script needed).
    note = client.post(f"{url}/note", data={"csrf": csrf, "text": "by form"})
    assert note.status_code == 303 and "notice=noted" in note.headers["location"]


def test_record_edit_is_validated_and_audited(client: TestClient,
                                              sessions: sessionmaker[Session]) -> None:
    cid = handed_off(sessions, with_customer=True)
    with sessions() as session:
        customer_id = customers.search(session=session, query="Dana Ruiz")[0][-1].id
        email = customers.get_or_raise(session=session, customer_id=customer_id).email
    csrf = login(client)
    url = f"/console/customers/{customer_id}"
    form = {"csrf": csrf, "name": "Dana Ruiz", "email": email or "", "phone": "",
            "company": "Acme", "address": "2 Right Road", "back": f"/console/conversations/{cid}"}

    assert client.post(url, data={**form, "email": "dana@nowhere"},
                       headers=JSON).status_code == 422
    assert client.post(url, data={**form, "phone": "12345"}, headers=JSON).status_code == 422
    assert client.post(url, data={**form, "address": "x" * 2001},
                       headers=JSON).status_code == 422
    assert client.post(url, data={**form, "csrf": "forged"}, headers=JSON).status_code == 403
    for bad_id in ("0", "-1", "abc", "99999999999999999999"):
        response = client.post(f"/console/customers/{bad_id}", data=form, headers=JSON)
        assert response.status_code == 422, bad_id
    assert client.post("/console/customers/999999", data=form, headers=JSON).status_code == 404
    with sessions.begin() as session:
        customers.create(session=session, actor="test", email="taken@example.com")
    taken = client.post(url, data={**form, "email": "taken@example.com"}, headers=JSON)
    assert taken.status_code == 409

    saved = client.post(url, data=form, headers=JSON)
    assert saved.status_code == 200
    assert saved.json()["customer"]["address"] == "2 Right Road"
    cleared = client.post(url, data={**form, "address": "  "})
    assert cleared.status_code == 303
    assert cleared.headers["location"] == f"/console/conversations/{cid}?notice=saved"
    offsite = client.post(url, data={**form, "address": "", "back": "//evil.example/"})
    assert offsite.headers["location"].startswith("/console/")
    with sessions() as session:
        customer = customers.get_or_raise(session=session, customer_id=customer_id)
        assert customer.address is None and customer.company == "Acme"
        actors = {e.actor for e in audit.list_entries(session=session, entity="customer",
                                                      entity_id=customer_id)}
        assert f"user:{agent_id(sessions)}" in actors


def test_lead_stage_and_case_reopen(client: TestClient, sessions: sessionmaker[Session]) -> None:
    handed_off(sessions, with_customer=True)
    with sessions.begin() as session:
        customer_id = customers.search(session=session, query="Dana Ruiz")[0][0].id
        lead, _ = leads.open_or_update_lead(session=session, customer_id=customer_id,
                                            changed_by="test", interest="Teams")
        case = cases.open_case(session=session, actor="test", subject="Refund",
                               customer_id=customer_id)
        lead_id, case_id = lead.id, case.id
    csrf = login(client)
    stage = f"/console/leads/{lead_id}/stage"
    assert client.post(stage, data={"csrf": csrf, "stage": "sold"},
                       headers=JSON).status_code == 422
    assert client.post(stage, data={"csrf": csrf, "stage": "lost"},
                       headers=JSON).status_code == 422  # lost needs a reason
    assert client.post(stage, data={"csrf": csrf, "stage": "x" * 50},
                       headers=JSON).status_code == 422
    assert client.post("/console/leads/424242/stage", data={"csrf": csrf, "stage": "won"},
                       headers=JSON).status_code == 404
    moved = client.post(stage, data={"csrf": csrf, "stage": "proposal"}, headers=JSON)
    assert moved.status_code == 200 and moved.json()["lead"]["stage"] == "proposal"

    reopen = f"/console/cases/{case_id}/reopen"
    assert client.post(reopen, data={"csrf": csrf}, headers=JSON).status_code == 409
    with sessions.begin() as session:
        cases.set_status(session=session, case_id=case_id, status="closed", actor="test")
    assert client.post(reopen, data={}, headers=JSON).status_code == 403
    opened = client.post(reopen, data={"csrf": csrf}, headers=JSON)
    assert opened.status_code == 200 and opened.json()["case"]["status"] == "open"
    assert client.post("/console/cases/abc/reopen", data={"csrf": csrf},
                       headers=JSON).status_code == 422
    with sessions() as session:
        history = leads.get_or_raise(session=session, lead_id=lead_id).history
        assert history[-1].changed_by == f"user:{agent_id(sessions)}"
        actors = {e.actor for e in audit.list_entries(session=session, entity="case",
                                                      entity_id=case_id)}
        assert f"user:{agent_id(sessions)}" in actors


def test_every_new_route_needs_a_console_login(client: TestClient,
                                               sessions: sessionmaker[Session]) -> None:
    for path in ("/console/customers/1", "/console/leads/1/stage", "/console/cases/1/reopen"):
        response = client.post(path, data={"stage": "won"})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")



def test_transfer_to_another_agent(client: TestClient, sessions: sessionmaker[Session]) -> None:
    cid = handed_off(sessions)
    with sessions.begin() as session:
        bea = users.create_user(session=session, email="bea@relay.test", name="Bea Backup",
                                password="another-long-password").id
        viewer = users.create_user(session=session, email="v@relay.test", name="Vic Viewer",
                                   password="another-long-password", role="viewer").id
    csrf = login(client)
    url = f"/console/conversations/{cid}/transfer"
    for bad in (str(viewer), "424242", "abc", "0", "9" * 30, ""):
        response = client.post(url, data={"csrf": csrf, "to_agent": bad}, headers=JSON)
        assert response.status_code == 422, bad
    assert client.post(url, data={"to_agent": str(bea)}, headers=JSON).status_code == 403
    moved = client.post(url, data={"csrf": csrf, "to_agent": str(bea)}, headers=JSON)
    assert moved.status_code == 200 and moved.json()["outcome"] == "transferred"
    with sessions() as session:
        conversation = session.get(Conversation, cid)
        assert conversation is not None
        assert (conversation.status, conversation.assigned_agent_id) == ("agent", bea)
        rows = interactions.list_for_conversation(session=session, conversation_id=cid)
        assert rows[-2].author == "system" and "Bea from the Nimbus" in rows[-2].text
        assert rows[-1].note and "Transferred to Bea Backup by Alex Agent" in rows[-1].text
        entries = audit.list_entries(session=session, entity="conversation", entity_id=cid)
        assert entries[0].action == "transfer"
        assert entries[0].actor == f"user:{agent_id(sessions)}"
    with sessions.begin() as session:
        support.hand_back(session=session, conversation_id=cid, agent_id=bea, agent_name="Bea",
                          actor="test")
    late = client.post(url, data={"csrf": csrf, "to_agent": str(bea)}, headers=JSON)
    assert late.status_code == 409


def test_a_search_that_finds_nothing_open_offers_the_resolved_ones(
        client: TestClient, sessions: sessionmaker[Session]) -> None:
    login(client)
    page = client.get("/console/", params={"view": "all", "q": "photos <b>ios</b>"}).text
    assert "No open conversation matches “photos &lt;b&gt;ios&lt;/b&gt;”" in page
    assert 'href="/console/?view=resolved&amp;q=photos%20%3Cb%3Eios%3C/b%3E"' in page
    resolved = client.get("/console/", params={"view": "resolved", "q": "photos"}).text
    assert "Search the resolved ones" not in resolved
