"""Synthetic CRM history: the demo data's weeks of traffic, and the benchmark's million rows.

``generate(session=…, scale=Scale(…))`` writes customers, conversations with their messages (as
the ingest records them: FAQ outcomes, entries answered, handoffs with reasons), agent replies,
handoff cases with first-reply and resolution times, leads moving through the pipeline and
other cases — shaped like real support traffic: weekday and office-hour peaks, a few popular
FAQ entries, repeat customers, questions the FAQ cannot answer (with what agents replied),
answers after which some customers still want a person. Rows go in with bulk INSERTs, so a
million interactions take about a minute on PostgreSQL: they are written as they would stand
after the fact, not through the support desk (crm_store.support), so they carry no audit rows.

``python -m crm_store.synthetic --customers 100000 --interactions 1000000 --url URL`` fills a
database for the Insights benchmark (relay.insightbench).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from crm_store import audit, enums
from crm_store.models import (
    OPEN_CASE_STATUSES,
    OPEN_LEAD_STAGES,
    Case,
    Conversation,
    Customer,
    Interaction,
    Lead,
    LeadStageChange,
    utcnow,
)
from relay import channels
from relay.channels import ChannelName

# Topics the demo FAQ has no entry for: what customers ask, and what an agent replied.
GAP_TOPICS: dict[str, tuple[list[str], str]] = {
    "careers": (
        ["are you hiring", "do you have job openings", "is nimbus hiring right now",
         "any job openings for engineers", "are there jobs at your company",
         "are you hiring developers", "job vacancies at nimbus"],
        "Yes, we are hiring! Open positions are listed at nimbusdrive.example/careers; we hire "
        "remotely across the EU.",
    ),
    "dark-mode": (
        ["is there a dark mode", "how do I turn on dark mode", "dark theme for the web app",
         "can the app have a dark theme", "dark mode on the desktop client"],
        "Dark mode: Settings > Appearance > Dark, on the web and in the desktop app 4.2 or "
        "later; the mobile apps follow your phone's setting.",
    ),
    "printing": (
        ["can I print a file from nimbus", "print a document directly from the browser",
         "how do I print from the web app", "printing a pdf stored in my drive"],
        "Open the file's preview and use the printer icon (or Ctrl/Cmd+P); PDFs and images "
        "print as they are, Office files through the online editor.",
    ),
    "stickers": (
        ["can I get nimbus stickers", "do you send stickers", "nimbus sticker pack"],
        "We don't sell merchandise, but we're happy to send a sticker pack: reply with a "
        "postal address.",
    ),
}
SMALL_TALK = [("hi", "greet"), ("hello there", "greet"), ("thanks!", "thank"),
              ("thank you, that helps", "thank"), ("bye", "goodbye")]
PERSON_ASKS = ["I want to talk to a human", "can I speak to a person", "agent please",
               "let me talk to someone real", "connect me to support staff"]
# Entries after whose answer customers more often still want a person.
ESCALATING = {"refund-policy": 0.35, "cancel-subscription": 0.3, "payment-failed": 0.3,
              "lost-2fa": 0.4, "delete-account": 0.25}
REASONS = {
    "asked": "the customer asked for a person",
    "failed": "the assistant could not answer 2 turns in a row",
    "accepted": "the FAQ search was not confident and the customer accepted a person",
}
AGENT_OPENERS = ["Hi, {name} here from Nimbus Drive support.",
                 "Hello! This is {name}, I'll help you with that.",
                 "Thanks for waiting, {name} here."]
INTERESTS = ["Business plan", "Pro plan", "Business plan (demo)", "Pro plan for a small team",
             "storage add-on", None]
FIRST = ["Ana", "Ben", "Chloe", "Dmitri", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jon",
         "Kenji", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST = ["Silva", "Okafor", "Meyer", "Rossi", "Novak", "Haddad", "Larsen", "Dubois", "Tanaka",
        "Kowalski", "Fischer", "Moreau", "Costa", "Berg", "Ivanova", "Nakamura"]
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 6, 10, 13, 14, 13, 11, 12, 14, 13, 12, 10, 8, 6, 5, 4, 3, 2]
WEEKDAY_WEIGHTS = [1.0, 1.05, 1.0, 0.95, 0.9, 0.45, 0.35]
BATCH = 5000
CHANNELS = (ChannelName.WEB, ChannelName.TELEGRAM, ChannelName.REST)
CUSTOMER, BOT, AGENT = enums.Author.CUSTOMER, enums.Author.BOT, enums.Author.AGENT
WITH_A_PERSON = (enums.ConversationStatus.HANDOFF, enums.ConversationStatus.AGENT)


@dataclass(frozen=True)
class Scale:
    """How much history to write, over how many days before `now`."""

    customers: int
    conversations: int
    days: int = 60
    prefix: str = "syn"  # conversation ids: the channel's id prefix, then "<prefix><n>"
    email_domain: str = "example.com"
    seed: int = 7


@dataclass
class _Buffers:
    customers: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)


def _lognormal(rng: random.Random, median_s: float, sigma: float = 0.9) -> timedelta:
    return timedelta(seconds=median_s * rng.lognormvariate(0, sigma))


def _start_time(rng: random.Random, now: datetime, days: int) -> datetime:
    """A conversation start: more on weekdays and in office hours, growing towards now."""
    while True:
        # Growth: later days are likelier (triangular towards 0 days ago).
        day = int(rng.triangular(0, days, 0))
        start = (now - timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        if rng.random() > WEEKDAY_WEIGHTS[start.weekday()]:
            continue
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        when = start + timedelta(hours=hour, seconds=rng.randrange(3600))
        if when < now:  # today's later hours have not happened yet
            return when


def generate(
    *,
    session: Session,
    scale: Scale,
    faq: Sequence[tuple[str, Sequence[str], str]],
    agents: Sequence[tuple[int, str]],
    now: datetime | None = None,
) -> dict[str, int]:
    """Write the history; faq: (entry id, questions, answer); agents: (user id, first name)."""
    if not faq or not agents:
        raise ValueError("synthetic history needs FAQ entries and at least one agent")
    now = now or utcnow()
    rng = random.Random(scale.seed)
    base_customer = (session.scalar(select(func.max(Customer.id))) or 0) + 1
    buffers = _Buffers()
    for i in range(scale.customers):
        created = now - timedelta(days=scale.days + rng.randrange(0, 365))
        buffers.customers.append({
            "id": base_customer + i,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "email": f"{scale.prefix}{base_customer + i}@{scale.email_domain}",
            "company": rng.choice([None, None, "Acme GmbH", "Globex", "Initech", "Umbrella"]),
            "type": enums.CustomerType.VISITOR, "contact_consent": rng.random() < 0.4,
            "created_at": created, "updated_at": created,
        })
    _flush(session, Customer, buffers.customers)
    popularity = [1 / (rank + 1) ** 0.9 for rank in range(len(faq))]
    rng.shuffle(popularity)
    base_interaction = (session.scalar(select(func.max(Interaction.id))) or 0) + 1
    next_id = [base_interaction]
    counts = {"customers": scale.customers, "conversations": 0, "interactions": 0,
              "handoffs": 0, "leads": 0, "cases": 0}

    def say(conversation: dict[str, Any], at: datetime, author: str, text: str,
            **extra: Any) -> dict[str, Any]:
        row = {
            "id": next_id[0], "conversation_id": conversation["id"],
            "customer_id": conversation["customer_id"], "channel": conversation["channel"],
            "direction": (enums.Direction.INBOUND if author == CUSTOMER
                          else enums.Direction.OUTBOUND),
            "author": author,
            "text": text, "intent": None, "confidence": None, "faq_entry_id": None,
            "faq_outcome": None, "faq_score": None, "agent_id": None, "note": False,
            "dedupe_key": None, "created_at": at, "delivered_at": None, **extra,
        }
        next_id[0] += 1
        buffers.interactions.append(row)
        conversation["last_message_at"] = at
        return row

    # Repeat customers: a few people write often, most once or twice.
    cumulative = list(accumulate(1 / (k + 1) ** 0.6 for k in range(scale.customers)))
    faq_cumulative = list(accumulate(popularity))
    for n in range(scale.conversations):
        channel = rng.choices(CHANNELS, weights=(60, 35, 5))[0]
        at = _start_time(rng, now, scale.days)
        linked = scale.customers and rng.random() < 0.75
        customer_id = (base_customer + rng.choices(range(scale.customers),
                                                   cum_weights=cumulative)[0]
                       if linked else None)
        conversation = {"id": channels.get(channel).conversation_id(f"{scale.prefix}{n:07d}"),
                        "channel": channel, "customer_id": customer_id,
                        "status": enums.ConversationStatus.BOT, "assigned_agent_id": None,
                        "handoff_reason": None, "handoff_at": None, "created_at": at,
                        "last_message_at": at}
        buffers.conversations.append(conversation)
        at = _conversation(rng, conversation, at, now, faq, faq_cumulative, agents, say, buffers)
        counts["conversations"] += 1
        counts["handoffs"] += conversation["handoff_at"] is not None
        if len(buffers.conversations) >= BATCH:
            counts["interactions"] += len(buffers.interactions)
            counts["cases"] += len(buffers.cases)
            _flush_history(session, buffers)
    counts["interactions"] += len(buffers.interactions)
    counts["cases"] += len(buffers.cases)
    _flush_history(session, buffers)
    _link_handoff_cases(session)
    counts["leads"] = _leads(session, rng, now, scale, base_customer, agents)
    _advance_sequences(session)
    return counts


def _link_handoff_cases(session: Session) -> None:
    """Conversations still with a person know the handoff case resolving them closes (as
    crm_store.support records it): the latest open handoff case of each."""
    latest = (
        select(func.max(Case.id))
        .where(Case.conversation_id == Conversation.id, Case.type == enums.CaseType.HANDOFF,
               Case.status.in_(OPEN_CASE_STATUSES))
        .scalar_subquery()
    )
    session.execute(
        update(Conversation)
        .where(Conversation.status.in_(WITH_A_PERSON),
               Conversation.handoff_case_id.is_(None))
        .values(handoff_case_id=latest)
        .execution_options(synchronize_session=False)
    )


def _advance_sequences(session: Session) -> None:
    """PostgreSQL: move the id sequences past the ids written here, so rows added later (a new
    customer, the next message) do not collide with them. SQLite needs nothing."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in (Customer.__tablename__, Interaction.__tablename__, Lead.__tablename__):
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"))


def _conversation(
    rng: random.Random, conversation: dict[str, Any], at: datetime, now: datetime,
    faq: Sequence[tuple[str, Sequence[str], str]], faq_cumulative: Sequence[float],
    agents: Sequence[tuple[int, str]], say: Any, buffers: _Buffers,
) -> datetime:
    """One conversation's turns; returns the time of its last turn."""
    step = lambda: timedelta(seconds=rng.randrange(5, 90))  # noqa: E731
    pattern = rng.choices(("answered", "clarify", "gap", "escalate", "person", "smalltalk"),
                          weights=(55, 8, 12, 9, 8, 8))[0]
    reason = None
    if rng.random() < 0.4:
        text, intent = rng.choice(SMALL_TALK[:2])
        say(conversation, at, CUSTOMER, text, intent=intent, confidence=0.95)
        at += timedelta(seconds=2)
        say(conversation, at, BOT, "Hi! I'm the Nimbus Drive assistant. How can I help?")
        at += step()
    if pattern in ("answered", "escalate", "clarify"):
        entry_id, questions, answer = rng.choices(faq, cum_weights=faq_cumulative)[0]
        question = rng.choice(list(questions))
        if rng.random() < 0.5:
            question = question.lower().rstrip("?")
        outcome = enums.FaqOutcome.CLARIFY if pattern == "clarify" else enums.FaqOutcome.ANSWERED
        score = round(rng.uniform(0.3, 0.55) if pattern == "clarify" else
                      rng.betavariate(6, 1.6), 4)
        say(conversation, at, CUSTOMER, question, intent="ask_question",
            confidence=round(rng.uniform(0.6, 0.99), 3), faq_outcome=outcome, faq_score=score)
        at += timedelta(seconds=1)
        if pattern == "clarify":
            say(conversation, at, BOT, "Did you mean one of these?")
            at += step()
            say(conversation, at, CUSTOMER, f'/choose_faq{{"faq_id": "{entry_id}"}}',
                intent="choose_faq", confidence=1.0)
            at += timedelta(seconds=1)
        say(conversation, at, BOT, answer, faq_entry_id=entry_id)
        at += step()
        wants_person = rng.random() < ESCALATING.get(entry_id, 0.08)
        if pattern == "escalate" or wants_person:
            say(conversation, at, CUSTOMER, rng.choice(PERSON_ASKS), intent="ask_human",
                confidence=0.97)
            reason = REASONS["asked"]
        elif rng.random() < 0.5:
            text, intent = rng.choice(SMALL_TALK[2:])
            say(conversation, at, CUSTOMER, text, intent=intent, confidence=0.9)
            at += timedelta(seconds=1)
            say(conversation, at, BOT, "Happy to help!")
    elif pattern == "gap":
        topic = rng.choice(list(GAP_TOPICS))
        texts, _ = GAP_TOPICS[topic]
        say(conversation, at, CUSTOMER, rng.choice(texts), intent="ask_question",
            confidence=round(rng.uniform(0.4, 0.9), 3), faq_outcome=enums.FaqOutcome.DECLINED,
            faq_score=round(rng.uniform(0.05, 0.3), 4))
        at += timedelta(seconds=1)
        say(conversation, at, BOT, "I'm not sure I can answer that. Shall I get a person?")
        at += step()
        if rng.random() < 0.5:
            say(conversation, at, CUSTOMER, "yes please", intent="affirm", confidence=0.96)
            reason = REASONS["accepted"]
        else:
            say(conversation, at, CUSTOMER, rng.choice(texts), intent="nlu_fallback",
                confidence=0.4, faq_outcome=enums.FaqOutcome.DECLINED,
                faq_score=round(rng.uniform(0.05, 0.3), 4))
            reason = REASONS["failed"]
        conversation["gap_topic"] = topic
    elif pattern == "person":
        say(conversation, at, CUSTOMER, rng.choice(PERSON_ASKS), intent="ask_human",
            confidence=0.98)
        reason = REASONS["asked"]
    if reason is not None:
        at += timedelta(seconds=1)
        say(conversation, at, BOT, "I've passed our conversation to the support team.")
        _handoff(rng, conversation, at, now, reason, agents, say, buffers)
    conversation.pop("gap_topic", None)
    return at


def _handoff(
    rng: random.Random, conversation: dict[str, Any], at: datetime, now: datetime, reason: str,
    agents: Sequence[tuple[int, str]], say: Any, buffers: _Buffers,
) -> None:
    """The handoff, its case, and (unless it is too recent) an agent's replies and resolution."""
    conversation.update(status=enums.ConversationStatus.HANDOFF, handoff_reason=reason,
                        handoff_at=at)
    case = {"customer_id": conversation["customer_id"], "conversation_id": conversation["id"],
            "subject": f"Handoff: {reason}", "description": "", "type": enums.CaseType.HANDOFF,
            "priority": enums.CasePriority.NORMAL, "status": enums.CaseStatus.OPEN,
            "created_at": at, "updated_at": at,
            "resolved_at": None, "first_reply_at": None, "first_reply_agent_id": None}
    buffers.cases.append(case)
    agent_id, agent_name = rng.choice(agents)
    # Some agents are quicker than others; weekends and nights are slower.
    speed = 0.6 + 0.35 * (agent_id % 4)
    slow = 3.0 if at.weekday() >= 5 or not 7 <= at.hour < 20 else 1.0
    first = at + _lognormal(rng, 150 * speed * slow)
    if first > now:
        return  # still waiting in the queue
    conversation.update(status=enums.ConversationStatus.AGENT, assigned_agent_id=agent_id)
    case.update(first_reply_at=first, first_reply_agent_id=agent_id)
    say(conversation, first, AGENT, rng.choice(AGENT_OPENERS).format(name=agent_name),
        agent_id=agent_id, delivered_at=first)
    topic = conversation.get("gap_topic")
    if topic:
        answer_at = first + timedelta(seconds=rng.randrange(30, 240))
        if answer_at < now:
            say(conversation, answer_at, AGENT, GAP_TOPICS[topic][1], agent_id=agent_id,
                delivered_at=answer_at)
    resolved = first + _lognormal(rng, 1500 * speed, 1.0)
    if resolved > now:
        return  # with the agent now
    say(conversation, resolved, AGENT, f"Resolved by {agent_name}; handed back to the "
        "assistant.", agent_id=agent_id, note=True)
    case.update(status=enums.CaseStatus.RESOLVED, resolved_at=resolved, updated_at=resolved)
    conversation.update(status=enums.ConversationStatus.BOT, assigned_agent_id=None)


def _leads(session: Session, rng: random.Random, now: datetime, scale: Scale,
           base_customer: int, agents: Sequence[tuple[int, str]]) -> int:
    """Leads for about one customer in four, moved through the pipeline with real-looking times."""
    leads: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    base_lead = (session.scalar(select(func.max(Lead.id))) or 0) + 1
    pipeline = (*OPEN_LEAD_STAGES, enums.LeadStage.WON)
    advance = {ChannelName.WEB: 0.84, ChannelName.TELEGRAM: 0.78, ChannelName.REST: 0.66}
    for k in range(scale.customers):
        # Customers who write often buy more often (customer k writes ~ 1/(k+1)^0.6 as often).
        if rng.random() > 0.3 + 0.9 / (k + 1) ** 0.5:
            continue
        lead_id = base_lead + len(leads)
        source = rng.choices(CHANNELS, weights=(60, 33, 7))[0]
        # Leads go back further than the conversations: last year's wins are this year's
        # loyal (or lapsing) customers.
        at = _start_time(rng, now, max(scale.days, 240))
        value = Decimal(rng.choice([80, 150, 450, 960, 1800, 3600, 7200, 15000]))
        stage, lost_reason = enums.LeadStage.NEW, None
        history: list[dict[str, Any]] = [{"lead_id": lead_id, "from_stage": None,
                                          "to_stage": enums.LeadStage.NEW, "changed_by": audit.BOT,
                                          "changed_at": at}]
        when = at
        for nxt in pipeline[1:]:
            when = when + _lognormal(rng, 86400 * (1.5 if nxt != enums.LeadStage.WON else 4), 0.8)
            if when > now:
                break
            if rng.random() > advance[source]:
                if rng.random() < 0.5:
                    history.append({"lead_id": lead_id, "from_stage": stage,
                                    "to_stage": enums.LeadStage.LOST, "changed_at": when})
                    stage, lost_reason = enums.LeadStage.LOST, rng.choice(
                        ["too expensive", "chose a competitor", "no budget this year"])
                break
            history.append({"lead_id": lead_id, "from_stage": stage, "to_stage": nxt,
                            "changed_at": when})
            stage = nxt
        owner_id, _ = rng.choice(agents)
        # The bot opened the lead; its owner moved it on.
        changes += [{"changed_by": audit.user_actor(owner_id), **change} for change in history]
        leads.append({"id": lead_id, "customer_id": base_customer + k,
                      "interest": rng.choice(INTERESTS),
                      "company_size": rng.choice(["1-10", "11-50", "51-200", None]),
                      "budget": None, "timeline": None, "source_channel": source,
                      "stage": stage, "lost_reason": lost_reason, "expected_value": value,
                      "owner_id": owner_id, "created_at": at, "updated_at": when})
    won = {lead["customer_id"] for lead in leads if lead["stage"] == enums.LeadStage.WON}
    open_ = {lead["customer_id"] for lead in leads} - won
    count = len(leads)
    _flush(session, Lead, leads)
    _flush(session, LeadStageChange, changes)
    for type_, ids in ((enums.CustomerType.CUSTOMER, won), (enums.CustomerType.LEAD, open_)):
        if ids:
            session.execute(update(Customer).where(Customer.id.in_(ids)).values(type=type_))
    return count


def _flush(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(model), rows[start:start + BATCH])
    rows.clear()


def _flush_history(session: Session, buffers: _Buffers) -> None:
    _flush(session, Conversation, buffers.conversations)
    _flush(session, Interaction, buffers.interactions)
    _flush(session, Case, buffers.cases)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: fill a database with synthetic history for the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.synthetic", description=__doc__)
    parser.add_argument("--url", required=True, help="database URL (migrated)")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=1_000_000,
                        help="about this many (conversations = interactions / 4.7)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--prefix", default="syn",
                        help="conversation ids: the channel's id prefix, then <prefix><n>")
    args = parser.parse_args(argv)

    from crm_store import users
    from crm_store.db import make_engine, make_session_factory, session_scope
    from knowledge.build.sources import load_faq
    from relay.settings import ROOT

    faq = [(e.id, e.questions, e.answer) for e in load_faq(ROOT / "knowledge" / "faq")]
    engine = make_engine(args.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            agents = []
            for name in ("Sam", "Priya", "Jonas", "Mei", "Tomas", "Aisha"):
                user = users.ensure_user(session=session, email=f"{name.lower()}@relay.local",
                                         name=f"{name} (synthetic)", password="synthetic-agent")
                agents.append((user.id, name))
            counts = generate(session=session, faq=faq, agents=agents, scale=Scale(
                customers=args.customers, conversations=int(args.interactions / 4.7),
                days=args.days, prefix=args.prefix))
    finally:
        engine.dispose()
    print("crm_store.synthetic: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
