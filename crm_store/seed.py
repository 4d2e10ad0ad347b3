"""`python -m crm_store.seed [--url URL] [--history]`: demo customers, conversations, leads, cases.

Idempotent (keyed on the demo emails and conversation ids). Nothing is created unless RELAY_ENV
is development or test: the demo customers' widget conversations have ids written here, so on a
real installation anyone could read their transcripts. The demo agent and an admin come from
settings.demo_agent_email/password.
In development (or with --history) it also writes three months of demo traffic, more agents and
a manager (crm_store.demo_history), so every chart of the Insights page means something.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import (
    audit,
    canned,
    cases,
    conversations,
    customers,
    interactions,
    leads,
    support,
    users,
)
from crm_store.db import make_engine, make_session_factory, session_scope
from crm_store.enums import (
    Author,
    CasePriority,
    CaseType,
    ConversationStatus,
    CustomerType,
    Direction,
    Role,
)
from crm_store.models import CannedReply, utcnow
from relay import channels
from relay.channels import TELEGRAM, WEB, ChannelName
from relay.settings import Settings, get_settings

DEMO_ADMIN_EMAIL = "admin@relay.local"
SEED = audit.service_actor("seed")


@dataclass(frozen=True)
class DemoCase:
    """A case opened for a demo customer; handoff=True also hands the conversation over."""

    subject: str
    type: str
    priority: str
    handoff: bool


@dataclass(frozen=True)
class DemoCustomer:
    """One demo customer with a conversation and, optionally, a lead and a case."""

    name: str
    email: str
    phone: str | None
    company: str
    type: str
    contact_consent: bool
    conversation: str
    turns: tuple[tuple[Direction, str, str | None, float | None], ...]
    lead: dict[str, Any] = field(default_factory=dict)
    case: DemoCase | None = None


DEMO_CUSTOMERS = (
    DemoCustomer(
        name="Ada Lovelace",
        email="ada@example.com",
        phone="+442071838750",
        company="Analytical Engines Ltd",
        type=CustomerType.LEAD,
        contact_consent=True,
        conversation=WEB.conversation_id("5eed0000000000000000000000000001"),
        turns=(
            (Direction.INBOUND, "Hi, what plans do you offer for teams?", "ask_question", 0.93),
            (Direction.OUTBOUND, "We have Free, Pro and Business plans. Want a team quote?", None,
             None),
            (Direction.INBOUND, "Yes please, we are about 40 people.", "request_sales", 0.88),
        ),
        lead={
            "interest": "Business plan",
            "company_size": "11-50",
            "budget": "5-10k",
            "timeline": "this quarter",
            "source_channel": ChannelName.WEB,
            "expected_value": "7200",
        },
    ),
    DemoCustomer(
        name="Grace Hopper",
        email="grace@example.com",
        phone="+14155550132",
        company="Cobol Corp",
        type=CustomerType.CUSTOMER,
        contact_consent=True,
        conversation=TELEGRAM.conversation_id(100000001),
        turns=(
            (Direction.INBOUND, "My invoice shows the wrong VAT number.", "report_problem", 0.81),
            (Direction.OUTBOUND, "Sorry about that! I'm handing you over to a colleague.", None,
             None),
        ),
        case=DemoCase("Wrong VAT number on invoice", CaseType.HANDOFF, CasePriority.HIGH,
                      handoff=True),
    ),
    DemoCustomer(
        name="Alan Turing",
        email="alan@example.com",
        phone=None,
        company="Bletchley Analytics",
        type=CustomerType.VISITOR,
        contact_consent=False,
        conversation=WEB.conversation_id("5eed0000000000000000000000000003"),
        turns=(
            (Direction.INBOUND, "How do I reset my password?", "ask_question", 0.97),
            (Direction.OUTBOUND, "Use 'Forgot password' on the sign-in page.", None, None),
        ),
        case=DemoCase("Password reset question", CaseType.QUESTION, CasePriority.LOW,
                      handoff=False),
    ),
)


def seed_demo_data(*, session: Session) -> int:
    """Create the demo customers and their history if missing; returns how many were new."""
    created = 0
    start = utcnow() - timedelta(days=1)
    for index, spec in enumerate(DEMO_CUSTOMERS):
        if customers.get_by_email(session=session, email=spec.email) is not None:
            continue
        created += 1
        customer = customers.create(
            session=session,
            actor=SEED,
            name=spec.name,
            email=spec.email,
            phone=spec.phone,
            company=spec.company,
            type=spec.type,
            contact_consent=spec.contact_consent,
        )
        conversation_id = spec.conversation
        channel = channels.of_conversation(conversation_id)
        conversations.get_or_create(session=session, conversation_id=conversation_id)
        conversations.link_customer(
            session=session, conversation_id=conversation_id, customer_id=customer.id, actor=SEED
        )
        customers.attach_identity(
            session=session,
            customer_id=customer.id,
            channel=channel.name,
            external_id=channel.external_id(conversation_id),
        )
        for turn, (direction, text, intent, confidence) in enumerate(spec.turns):
            interactions.record(
                session=session,
                conversation_id=conversation_id,
                direction=direction,
                author=Author.CUSTOMER if direction == Direction.INBOUND else Author.BOT,
                text=text,
                intent=intent,
                confidence=confidence,
                created_at=start + timedelta(hours=index, minutes=turn),
            )
        if spec.lead:
            leads.open_or_update_lead(
                session=session, customer_id=customer.id, changed_by=SEED, **spec.lead
            )
        if spec.case is not None:
            case = cases.open_case(
                session=session,
                actor=SEED,
                subject=spec.case.subject,
                description="Seeded demo case.",
                type=spec.case.type,
                priority=spec.case.priority,
                customer_id=customer.id,
                conversation_id=conversation_id,
            )
            if spec.case.handoff:
                support.set_status(
                    session=session,
                    conversation_id=conversation_id,
                    status=ConversationStatus.HANDOFF,
                    reason=spec.case.subject,
                    case_id=case.id,
                    actor=SEED,
                )
    return created


def seed_demo_users(*, session: Session, settings: Settings) -> list[str]:
    """The demo agent and admin (development/test only); returns the emails ensured."""
    if settings.env not in ("development", "test"):
        return []
    users.ensure_user(
        session=session,
        email=settings.demo_agent_email,
        name="Demo Agent",
        password=settings.demo_agent_password,
        role=Role.AGENT,
    )
    users.ensure_user(
        session=session,
        email=DEMO_ADMIN_EMAIL,
        name="Demo Admin",
        password=settings.demo_agent_password,
        role=Role.ADMIN,
    )
    return [settings.demo_agent_email, DEMO_ADMIN_EMAIL]


# A starter set for the demo: the canned-reply picker appears only once there are some.
DEMO_CANNED = (
    ("Hello", "Hi {{customer.first_name}}, this is {{agent.first_name}} from support. "
              "I'm reading through your conversation now."),
    ("Looking into it", "Thanks for your patience, {{customer.first_name}}. I'm looking into "
                        "this and will get back to you here in a few minutes."),
    ("Anything else?", "Is there anything else I can help you with today?"),
    ("Closing", "Glad we could sort this out, {{customer.first_name}}. I'm handing you back to "
                "our assistant; just write here if you need us again."),
)


def seed_demo_canned(*, session: Session) -> int:
    """The demo's canned replies, when there are none yet; how many were created."""
    if session.scalars(select(CannedReply.id).limit(1)).first() is not None:
        return 0
    for title, body in DEMO_CANNED:
        canned.create(session=session, title=title, body=body, actor=SEED)
    return len(DEMO_CANNED)


def seed(*, url: str, settings: Settings, history: bool | None = None) -> tuple[int, list[str]]:
    """Seed the database at url (already migrated); returns (new customers, user emails).

    history: write the demo traffic too (default: in development only).
    """
    from crm_store import demo_history

    if settings.env not in ("development", "test"):
        return 0, []
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            count = seed_demo_data(session=session)
            emails = seed_demo_users(session=session, settings=settings)
            if history if history is not None else settings.env == "development":
                emails += demo_history.seed_history(session=session, settings=settings,
                                                    actor=SEED)
                seed_demo_canned(session=session)
    finally:
        engine.dispose()
    return count, emails


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.seed", description=__doc__)
    parser.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    parser.add_argument("--history", action="store_true", default=None,
                        help="also write the demo traffic (default: in development only)")
    args = parser.parse_args(argv)
    settings = get_settings()
    count, emails = seed(url=args.url or settings.database_url, settings=settings,
                         history=args.history)
    print(f"crm_store: {count} demo customer(s) added")
    if emails:
        print(f"crm_store: demo users ready: {', '.join(emails)} (password: settings)")
    else:
        print(f"crm_store: no demo users in env={settings.env}")


if __name__ == "__main__":
    main()
