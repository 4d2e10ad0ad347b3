"""Synthetic history (crm_store.synthetic) leaves a CRM the rest of Relay can keep working on."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import customers, interactions, support, synthetic, users
from crm_store.enums import Author, CaseStatus, CaseType, ConversationStatus, Direction
from crm_store.models import Case, Conversation

ACTOR = "service:synthetic-test"
FAQ = [("pro-price", ["how much is pro", "pro price"], "Pro costs $8."),
       ("reset-password", ["reset my password"], "Use 'Forgot password'.")]


def test_waiting_conversations_know_their_case_and_new_rows_fit_after_it(
    session: Session,
) -> None:
    agent = users.create_user(session=session, email="syn@relay.local", name="Sam Syn",
                              password="password-1")
    counts = synthetic.generate(session=session, faq=FAQ, agents=[(agent.id, "Sam")],
                                scale=synthetic.Scale(customers=40, conversations=400, days=20),
                                # A fixed clock (the history is seeded): at this moment two of
                                # the latest handoffs still wait; at others all may be answered.
                                now=datetime(2026, 11, 25, 14, 7, tzinfo=UTC))
    assert counts["conversations"] == 400 and counts["handoffs"] > 0

    waiting = session.scalars(select(Conversation).where(
        Conversation.status.in_((ConversationStatus.HANDOFF, ConversationStatus.AGENT)))).all()
    assert waiting, "the scale leaves some conversations with a person"
    for conversation in waiting:
        case = session.get_one(Case, conversation.handoff_case_id)
        assert (case.conversation_id, case.type, case.status) == (
            conversation.id, CaseType.HANDOFF, CaseStatus.OPEN)

    # Resolving one the way the console does closes the case its handoff opened.
    first, case_id = waiting[0], waiting[0].handoff_case_id
    support.hand_back(session=session, conversation_id=first.id, agent_id=agent.id,
                      agent_name="Sam Syn", actor=ACTOR)
    assert session.get_one(Case, case_id).status == CaseStatus.RESOLVED
    # Rows written afterwards get ids past the synthetic ones (PostgreSQL's sequences too).
    created = customers.create(session=session, actor=ACTOR, name="After", email="a@x.example")
    said = interactions.record(session=session, conversation_id="web-after", text="hi",
                               direction=Direction.INBOUND, author=Author.CUSTOMER)
    assert created.id > counts["customers"] and said.id > counts["interactions"]
