"""The support desk (crm_store.support): the one writer of Conversation.status, always audited."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit, cases, conversations, customers, interactions, support, users
from crm_store.enums import CaseStatus, ConversationStatus
from crm_store.models import utcnow
from crm_store.support import BotUnavailable, Outcome
from relay import responses

BACK = responses.text(support.BOT_IS_BACK, None)  # the notice in English, the default
RATE = responses.text(support.RATE_SUPPORT, None)  # Telegram only: the widget asks itself

AGENT = audit.user_actor(7)


def new_agent(session: Session, name: str) -> int:
    """A new agent's user id."""
    email = f"{name.split()[0].lower()}@relay.test"
    return users.create_user(session=session, email=email, name=name, password="long-enough").id


@pytest.fixture
def agents(session: Session) -> list[int]:
    """Two agents' user ids."""
    return [new_agent(session, f"Agent{i} Tester") for i in (1, 2)]


def history(session: Session, conversation_id: str) -> list[tuple[str, str, str | None]]:
    """(actor, action, status after) of the conversation's audit rows, oldest first."""
    rows = audit.list_entries(session=session, entity="conversation", entity_id=conversation_id)
    return [(r.actor, r.action, (r.after or {}).get("status")) for r in reversed(rows)]


def test_every_status_change_is_audited_with_its_actor(
    session: Session, agents: list[int]
) -> None:
    case = support.request_handoff(session=session, conversation_id="web-h", actor=audit.BOT,
                                   reason="the customer asked for a person",
                                   transcript="Customer: a person please", channel="web")
    assert (case.type, case.status, case.subject) == (
        "handoff", "open", "Handoff: the customer asked for a person")
    assert support.claim(session=session, conversation_id="web-h", agent_id=agents[0],
                         actor=AGENT) == Outcome.CLAIMED
    assert support.back_to_bot(session=session, conversation_id="web-h",
                               actor="service:system")
    assert not support.back_to_bot(session=session, conversation_id="web-h",
                                   actor="service:system")  # no change, no row
    assert support.wait_for_person(session=session, conversation_id="web-h",
                                   actor="service:gateway", reason="Rasa was down")
    assert history(session, "web-h") == [
        ("relay-bot", "handoff", "handoff"),
        ("user:7", "claim", "agent"),
        ("service:system", "resume", "bot"),
        ("service:gateway", "handoff", "handoff"),
    ]


def test_a_person_keeps_the_conversation_when_rasa_pauses_again(
    session: Session, agents: list[int]
) -> None:
    support.set_status(session=session, conversation_id="tg-1", status="agent",
                       agent_id=agents[0], actor=AGENT)
    assert not support.wait_for_person(session=session, conversation_id="tg-1", actor=AGENT)
    conversation = conversations.get_or_raise(session=session, conversation_id="tg-1")
    assert (conversation.status, conversation.assigned_agent_id) == ("agent", agents[0])


def test_claim_refuses_what_is_not_waiting_or_taken(session: Session, agents: list[int]) -> None:
    me, other = agents
    conversations.get_or_create(session=session, conversation_id="web-b")
    assert support.claim(session=session, conversation_id="web-b", agent_id=me,
                         actor=AGENT) == Outcome.NOT_WAITING
    support.set_status(session=session, conversation_id="web-b", status="agent", agent_id=other,
                       actor=AGENT)
    assert support.claim(session=session, conversation_id="web-b", agent_id=me,
                         actor=AGENT) == Outcome.TAKEN
    assert support.reply(session=session, conversation_id="web-b", agent_id=me, actor=AGENT,
                         text="me too") == Outcome.TAKEN
    assert interactions.list_for_conversation(session=session, conversation_id="web-b") == []


class FakeBot:
    """Stands in for Rasa's tracker API: records resumes, or fails like an unreachable Rasa."""

    def __init__(self, *, reachable: bool = True) -> None:
        self.reachable = reachable
        self.resumed: list[str] = []

    async def resume(self, *, conversation_id: str) -> None:
        if not self.reachable:
            raise BotUnavailable("Rasa is not reachable")
        self.resumed.append(conversation_id)


def resolve(sessions: sessionmaker[Session], conversation_id: str, agent_id: int,
            bot: FakeBot | None = None) -> Outcome | None:
    """An agent resolves the conversation (the console's flow), with Rasa reachable unless bot
    says otherwise."""
    return asyncio.run(support.resolve(sessions=sessions, bot=bot or FakeBot(),
                                       conversation_id=conversation_id, agent_id=agent_id,
                                       agent_name="Sam", actor=AGENT))


def test_resolve_tells_the_bot_first_and_changes_nothing_if_it_cannot(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        agent_id = new_agent(session, "Sam")
        customer = customers.create(session=session, actor="test", email="res@example.com")
        conversations.link_customer(session=session, actor="test", conversation_id="web-r",
                                    customer_id=customer.id)
        support.request_handoff(session=session, conversation_id="web-r", actor=audit.BOT,
                                reason="asked", transcript="-")
    down, up = FakeBot(reachable=False), FakeBot()
    assert resolve(sessions, "web-r", agent_id, down) == Outcome.BOT_UNAVAILABLE
    with sessions() as session:
        status = conversations.get_or_raise(session=session, conversation_id="web-r").status
        assert status == ConversationStatus.HANDOFF
    assert resolve(sessions, "web-r", agent_id, up) == Outcome.RESOLVED
    assert up.resumed == ["web-r"]
    assert resolve(sessions, "web-r", agent_id, up) == Outcome.NOT_WAITING
    assert resolve(sessions, "web-none", agent_id, up) is None
    with sessions() as session:
        assert conversations.get_or_raise(session=session, conversation_id="web-r").status == "bot"
        assert [c.status for c in cases.list_for_customer(
            session=session, customer_id=customer.id)] == [CaseStatus.RESOLVED]
        assert history(session, "web-r")[-1] == (AGENT, "resolve", "bot")
        notes = [r.text for r in interactions.list_for_conversation(
            session=session, conversation_id="web-r") if r.note]
        assert notes == ["Resolved by Sam; handed back to the assistant."]


def test_set_status_and_list_handoffs_newest_first(session: Session) -> None:
    support.set_status(
        session=session, conversation_id="web-1", status="handoff", reason="angry", actor=AGENT
    )
    second = support.set_status(
        session=session, conversation_id="tg-2", status="handoff", actor=AGENT
    )
    second.handoff_at = second.handoff_at + timedelta(seconds=5)
    conversations.get_or_create(session=session, conversation_id="web-3")
    assert [c.id for c in conversations.list_handoffs(session=session)] == ["tg-2", "web-1"]
    first = support.set_status(
        session=session, conversation_id="web-1", status="agent", agent_id=None, actor=AGENT
    )
    assert first.handoff_reason == "angry" and first.status == "agent"
    back = support.set_status(session=session, conversation_id="web-1", status="bot", actor=AGENT)
    assert back.assigned_agent_id is None
    with pytest.raises(ValueError, match="status must be one of"):
        support.set_status(
            session=session, conversation_id="web-1", status="sleeping", actor=AGENT
        )


def test_resolving_closes_only_the_handoffs_own_case(sessions: sessionmaker[Session]) -> None:
    """A problem reported earlier in the conversation stays open when the handoff is resolved
    (it used to be resolved too, and the bot then told the customer so)."""
    with sessions.begin() as session:
        agent_id = new_agent(session, "Kim")
        conversations.get_or_create(session=session, conversation_id="web-p")
        problem = cases.open_case(session=session, actor=audit.BOT, conversation_id="web-p",
                                  subject="Sync stopped", type="problem")
        handoff = support.request_handoff(session=session, conversation_id="web-p",
                                          actor=audit.BOT, reason="asked", transcript="-")
        linked = conversations.get_or_raise(session=session, conversation_id="web-p")
        assert linked.handoff_case_id == handoff.id
        problem_id, handoff_id = problem.id, handoff.id
    assert resolve(sessions, "web-p", agent_id) == Outcome.RESOLVED
    with sessions() as session:
        assert cases.get_or_raise(session=session, case_id=problem_id).status == "open"
        assert cases.get_or_raise(session=session, case_id=handoff_id).status == "resolved"
        assert conversations.get_or_raise(session=session,
                                          conversation_id="web-p").handoff_case_id is None


def test_a_resolve_overtaken_by_rasas_resume_event_still_closes_the_handoffs_case(
    sessions: sessionmaker[Session],
) -> None:
    """The console tells Rasa to resume, and the API can read Rasa's resume event before the
    console's hand_back commits (a full test run hit it): the case the handoff opened is still
    resolved, not left open with its link lost."""
    with sessions.begin() as session:
        sam = new_agent(session, "Sam Okafor")
        handoff = support.request_handoff(session=session, conversation_id="web-o",
                                          actor=audit.BOT, reason="asked", transcript="-")
        support.claim(session=session, conversation_id="web-o", agent_id=sam, actor=AGENT)
        handoff_id = handoff.id
    with sessions.begin() as session:  # Rasa's resume event, read first
        assert support.back_to_bot(session=session, conversation_id="web-o",
                                   actor="service:system")
    with sessions.begin() as session:  # then the console's own hand-back
        support.hand_back(session=session, conversation_id="web-o", agent_id=sam,
                          agent_name="Sam", actor=AGENT)
    with sessions() as session:
        assert cases.get_or_raise(session=session, case_id=handoff_id).status == "resolved"
        assert cases.list_open_for_conversation(session=session, conversation_id="web-o") == []
        conversation = conversations.get_or_raise(session=session, conversation_id="web-o")
        assert (conversation.status, conversation.handoff_case_id) == ("bot", None)


def test_a_handoff_without_a_case_resolves_none(sessions: sessionmaker[Session]) -> None:
    """When Rasa was down the gateway queued the conversation without a case: nothing to close."""
    with sessions.begin() as session:
        agent_id = new_agent(session, "Lee")
        conversations.get_or_create(session=session, conversation_id="tg-7")
        problem = cases.open_case(session=session, actor=audit.BOT, conversation_id="tg-7",
                                  subject="Invoice wrong", type="problem")
        support.wait_for_person(session=session, conversation_id="tg-7",
                                actor="service:gateway", reason="Rasa was down")
        problem_id = problem.id
    resolve(sessions, "tg-7", agent_id)
    with sessions() as session:
        assert cases.get_or_raise(session=session, case_id=problem_id).status == "open"


def notices(session: Session, conversation_id: str) -> list[str]:
    """The texts of the notices Relay wrote to the customer, oldest first."""
    return [r.text for r in interactions.list_for_conversation(
        session=session, conversation_id=conversation_id) if r.author == "system"]


def _at_once(sessions: sessionmaker[Session], *steps: Callable[[Session], object]) -> None:
    """Run each step in its own transaction and thread, released together."""
    start = threading.Barrier(len(steps))
    failures: list[BaseException] = []

    def run(step: Callable[[Session], object]) -> None:
        try:
            start.wait(10)
            with sessions.begin() as session:
                step(session)
        except BaseException as error:  # reported in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


def test_agents_claiming_at_once_one_gets_it_and_the_customer_sees_one_join(
    sessions: sessionmaker[Session],
) -> None:
    """Three agents click "claim" on the same waiting conversation at the same moment: each was
    told it was theirs, the customer saw three people join, and the last writer kept it."""
    with sessions.begin() as session:
        agents = [new_agent(session, name) for name in ("Sam Okafor", "Priya Das", "Lee Chen")]
    for round_ in range(6):
        conversation_id = f"web-claim-race-{round_}"
        with sessions.begin() as session:
            support.request_handoff(session=session, conversation_id=conversation_id,
                                    actor=audit.BOT, reason="asked", transcript="-")
        outcomes: dict[int, support.Outcome] = {}

        def claim(session: Session, agent_id: int, conversation_id: str = conversation_id,
                  outcomes: dict[int, support.Outcome] = outcomes) -> None:
            outcomes[agent_id] = support.claim(session=session, conversation_id=conversation_id,
                                               agent_id=agent_id, actor=f"agent:{agent_id}")

        _at_once(sessions, *(functools.partial(claim, agent_id=a) for a in agents))
        winners = [a for a, outcome in outcomes.items() if outcome == support.Outcome.CLAIMED]
        assert len(winners) == 1, outcomes
        assert sorted(outcomes.values()) == sorted([support.Outcome.CLAIMED]
                                                   + [support.Outcome.TAKEN] * 2)
        with sessions() as session:
            joined = [t for t in notices(session, conversation_id) if "joined" in t]
            assert len(joined) == 1, joined
            assert conversations.get_or_raise(
                session=session, conversation_id=conversation_id).assigned_agent_id == winners[0]


def test_a_resolve_racing_rasas_resume_event_tells_the_customer_once(
    sessions: sessionmaker[Session],
) -> None:
    """The console's resolve and the ingest of Rasa's resume event, at the same moment."""
    with sessions.begin() as session:
        sam = new_agent(session, "Sam Okafor")
    for round_ in range(6):
        conversation_id = f"tg-race-{round_}"
        with sessions.begin() as session:
            support.request_handoff(session=session, conversation_id=conversation_id,
                                    actor=audit.BOT, reason="asked", transcript="-")
            support.claim(session=session, conversation_id=conversation_id, agent_id=sam,
                          actor=AGENT)
        steps = [functools.partial(support.hand_back, conversation_id=conversation_id,
                                   agent_id=sam, agent_name="Sam", actor=AGENT),
                 functools.partial(support.back_to_bot, conversation_id=conversation_id,
                                   actor="service:system")]
        _at_once(sessions, *(lambda s, f=f: f(session=s) for f in steps[::1 - 2 * (round_ % 2)]))
        with sessions() as session:
            told = notices(session, conversation_id)
            assert told.count(BACK) == 1, told
            assert conversations.get_or_raise(
                session=session, conversation_id=conversation_id).status == "bot"


def test_the_customer_is_told_when_a_person_joins_and_when_the_bot_is_back(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        sam = new_agent(session, "Sam Okafor")
        support.request_handoff(session=session, conversation_id="tg-5", actor=audit.BOT,
                                reason="asked", transcript="-")
        assert notices(session, "tg-5") == []  # the bot said so itself, in the turn
        support.claim(session=session, conversation_id="tg-5", agent_id=sam, actor=AGENT)
        support.claim(session=session, conversation_id="tg-5", agent_id=sam, actor=AGENT)
        support.reply(session=session, conversation_id="tg-5", agent_id=sam, actor=AGENT,
                      text="Hello")
        assert notices(session, "tg-5") == [
            "Sam from the Nimbus Drive support team has joined the chat."]
    resolve(sessions, "tg-5", sam)
    with sessions.begin() as session:
        assert not support.back_to_bot(session=session, conversation_id="tg-5",
                                       actor="service:system")  # Rasa's own resume event
        # ...and, on Telegram, asked for a rating with 1-5 buttons (the widget asks itself).
        assert notices(session, "tg-5")[1:] == [BACK, RATE]
        # Rasa resumed by someone else (its HTTP API): the customer is told too.
        support.wait_for_person(session=session, conversation_id="tg-5", actor="service:system")
        assert support.back_to_bot(session=session, conversation_id="tg-5",
                                   actor="service:system")
        assert notices(session, "tg-5")[1:] == [BACK, RATE, BACK]
        pending = interactions.list_undelivered(session=session, channel="telegram")
        assert [r.text for r in pending] == [
            "Sam from the Nimbus Drive support team has joined the chat.", "Hello",
            BACK, RATE, BACK]
        assert [len(r.buttons or []) for r in pending] == [0, 0, 0, 5, 0]


def test_the_bot_is_back_is_said_once_when_rasas_resume_event_comes_first(
    sessions: sessionmaker[Session],
) -> None:
    """Resolving tells Rasa to resume; its event can reach the CRM before the console's own
    hand-back commits (seen on the real stack): the customer still hears it once."""
    with sessions.begin() as session:
        sam = new_agent(session, "Sam Okafor")
        support.request_handoff(session=session, conversation_id="web-r", actor=audit.BOT,
                                reason="asked", transcript="-")
        support.claim(session=session, conversation_id="web-r", agent_id=sam, actor=AGENT)
        assert support.back_to_bot(session=session, conversation_id="web-r",
                                   actor="service:system")  # Rasa's resume event, first
        support.hand_back(session=session, conversation_id="web-r", agent_id=sam,
                          agent_name="Sam", actor=AGENT)
        assert notices(session, "web-r")[1:] == [BACK]


def _queued(session: Session, conversation_id: str) -> int:
    """A conversation waiting for a person after the handoff action; its handoff case id."""
    return support.request_handoff(session=session, conversation_id=conversation_id,
                                   actor=audit.BOT, reason="the customer asked for a person",
                                   transcript="Customer: a person please", channel="web").id


def test_a_customer_who_backs_out_closes_the_handoff_and_gets_the_bot_back(
    session: Session,
) -> None:
    case_id = _queued(session, "web-w")
    assert support.withdraw_handoff(session=session, conversation_id="web-w",
                                    actor="service:gateway", resumed_at=utcnow())
    conversation = conversations.get_or_raise(session=session, conversation_id="web-w")
    assert (conversation.status, conversation.handoff_case_id) == ("bot", None)
    assert cases.get_or_raise(session=session, case_id=case_id).status == CaseStatus.CLOSED
    assert history(session, "web-w")[-1] == ("service:gateway", "withdraw", "bot")
    assert "web-w" not in [c.id for c in conversations.list_handoffs(session=session)]


def test_backing_out_changes_nothing_once_a_person_has_claimed_it(
    session: Session, agents: list[int]
) -> None:
    case_id = _queued(session, "web-c")
    assert support.claim(session=session, conversation_id="web-c", agent_id=agents[0],
                         actor=AGENT) == Outcome.CLAIMED
    assert not support.withdraw_handoff(session=session, conversation_id="web-c",
                                        actor="service:gateway", resumed_at=utcnow())
    conversation = conversations.get_or_raise(session=session, conversation_id="web-c")
    assert (conversation.status, conversation.assigned_agent_id) == ("agent", agents[0])
    assert cases.get_or_raise(session=session, case_id=case_id).status == CaseStatus.OPEN


def test_backing_out_after_rasas_resume_event_was_read_still_closes_the_case(
    session: Session,
) -> None:
    resumed_at = utcnow()
    case_id = _queued(session, "web-r")
    assert support.back_to_bot(session=session, conversation_id="web-r",
                               actor="service:system", at=resumed_at + timedelta(seconds=0.2))
    assert support.withdraw_handoff(session=session, conversation_id="web-r",
                                    actor="service:gateway", resumed_at=resumed_at)
    assert cases.get_or_raise(session=session, case_id=case_id).status == CaseStatus.CLOSED


def test_backing_out_of_a_conversation_the_bot_had_long_before_does_nothing(
    session: Session,
) -> None:
    _queued(session, "web-o")
    support.back_to_bot(session=session, conversation_id="web-o", actor="service:system")
    before = history(session, "web-o")
    assert not support.withdraw_handoff(session=session, conversation_id="web-o",
                                        actor="service:gateway",
                                        resumed_at=utcnow() + timedelta(minutes=5))
    assert history(session, "web-o") == before
