"""A small CRM history whose every Insights figure is known by hand (SQLite and PostgreSQL).

Monday 2 March 2026, 10:00 UTC is T. Four conversations in range, one before it:
A (web, Mon 10h): a question answered with pro-price, then "a person please" → handoff, agent 1
  replies after 2 min, the case is resolved after 1 h.
B (telegram, Tue 10h): a question answered with pro-price; the bot finished it.
C (web, Tue 13h): two declined questions → handoff; agent 2 replies after 10 min; still open.
D (web, Tue 13h): a "did you mean"; the bot finished it.
E (web, 40 days earlier): outside the range.
Leads: L1 web new → qualified (+1 d) → won (+3 d); L2 telegram new → lost (+2 d); L3 web new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from crm_store import cases, conversations, customers, interactions, leads, support, users
from crm_store.enums import ConversationStatus
from crm_store.models import Conversation, Lead, LeadStageChange

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FIRST_DAY, LAST_DAY = date(2026, 3, 1), date(2026, 3, 7)
NOW = T + timedelta(days=1, hours=4, minutes=2)  # an hour after C's handoff
ACTOR = "service:insight-world"


@dataclass
class World:
    agent1: int
    agent2: int
    customer: int


def _conversation(session: Session, cid: str, at: datetime) -> None:
    conversations.get_or_create(session=session, conversation_id=cid)
    session.get_one(Conversation, cid).created_at = at


def _say(session: Session, cid: str, at: datetime, author: str, text: str,
         faq_outcome: str | None = None, **fields: object) -> None:
    row = interactions.record(session=session, conversation_id=cid,
                              direction="inbound" if author == "customer" else "outbound",
                              author=author, text=text, created_at=at,
                              **fields)  # type: ignore[arg-type]
    row.faq_outcome = faq_outcome


def _handoff(session: Session, cid: str, at: datetime, reason: str) -> int:
    case = support.request_handoff(session=session, conversation_id=cid, actor=ACTOR,
                                   reason=reason, transcript="")
    session.get_one(Conversation, cid).handoff_at = at
    case.created_at = at
    return case.id


def _assign(session: Session, cid: str, status: ConversationStatus,
            agent_id: int | None = None) -> None:
    support.set_status(session=session, conversation_id=cid, status=status, agent_id=agent_id,
                       actor=ACTOR)


def build(session: Session) -> World:
    """Write the history; returns the ids the tests need."""
    a1 = users.create_user(session=session, email="a1@relay.local", name="Agent One",
                           password="password-1", role="agent").id
    a2 = users.create_user(session=session, email="a2@relay.local", name="Agent Two",
                           password="password-2", role="agent").id
    customer = customers.create(session=session, actor=ACTOR, name="Kim",
                                email="kim@example.com").id

    a = "web-aaaa"
    _conversation(session, a, T)
    _say(session, a, T, "customer", "how much is pro", intent="ask_question",
         faq_outcome="answered")
    _say(session, a, T + timedelta(seconds=1), "bot", "Pro costs $8.", faq_entry_id="pro-price")
    _say(session, a, T + timedelta(minutes=4), "customer", "a person please", intent="ask_human")
    case_a = _handoff(session, a, T + timedelta(minutes=5), "the customer asked for a person")
    _assign(session, a, ConversationStatus.AGENT, a1)
    _say(session, a, T + timedelta(minutes=6), "agent", "note", agent_id=a1, note=True)
    _say(session, a, T + timedelta(minutes=7), "agent", "Hi, Agent One here.", agent_id=a1)
    _say(session, a, T + timedelta(minutes=9), "agent", "Anything else?", agent_id=a1)
    cases.set_status(session=session, case_id=case_a, status="resolved", actor=ACTOR)
    cases.get_or_raise(session=session, case_id=case_a).resolved_at = T + timedelta(minutes=65)
    _assign(session, a, ConversationStatus.BOT)

    b = "tg-4242"
    _conversation(session, b, T + timedelta(days=1))
    _say(session, b, T + timedelta(days=1), "customer", "pro price?", intent="ask_question",
         faq_outcome="answered", channel="telegram")
    _say(session, b, T + timedelta(days=1, seconds=1), "bot", "Pro costs $8.",
         faq_entry_id="pro-price")
    _say(session, b, T + timedelta(days=1, minutes=1), "customer", "thanks", intent="thank")

    c = "web-cccc"
    at_c = T + timedelta(days=1, hours=3)
    _conversation(session, c, at_c)
    _say(session, c, at_c, "customer", "error 0x80 in sync", intent="ask_question",
         faq_outcome="declined")
    _say(session, c, at_c + timedelta(seconds=30), "customer", "the tray icon is red",
         intent="nlu_fallback", faq_outcome="declined")
    _handoff(session, c, at_c + timedelta(minutes=2), "the assistant could not answer 2 turns")
    _assign(session, c, ConversationStatus.AGENT, a2)
    _say(session, c, at_c + timedelta(minutes=12), "agent", "Agent Two here.", agent_id=a2)

    d = "web-dddd"
    _conversation(session, d, at_c)
    _say(session, d, at_c, "customer", "price", intent="ask_question", faq_outcome="clarify")

    e = "web-eeee"
    _conversation(session, e, T - timedelta(days=40))
    _say(session, e, T - timedelta(days=40), "customer", "old question", intent="ask_question",
         faq_outcome="declined")
    _handoff(session, e, T - timedelta(days=40), "old reason")

    for channel, moves in (
        ("web", (("qualified", 1), ("won", 3))),
        ("telegram", (("lost", 2),)),
        ("web", ()),
    ):
        owner = a1 if channel == "web" else a2
        who = customers.create(session=session, actor=ACTOR, name=f"Lead {channel}").id
        lead, _ = leads.open_or_update_lead(session=session, customer_id=who, owner_id=owner,
                                            source_channel=channel, expected_value="1200",
                                            changed_by=ACTOR)
        lead.created_at = T
        lead.history[0].changed_at = T
        for stage, days in moves:
            leads.move_stage(session=session, lead_id=lead.id, to_stage=stage, changed_by="t",
                             lost_reason="too expensive" if stage == "lost" else None)
            change: LeadStageChange = lead.history[-1]
            change.changed_at = T + timedelta(days=days)
    session.flush()
    assert session.query(Lead).count() == 3
    return World(agent1=a1, agent2=a2, customer=customer)
