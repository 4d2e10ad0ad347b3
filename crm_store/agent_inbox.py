"""The agents' inbox: which handed-off conversations a view lists, search, and the change mark.

Views: `mine` (claimed by me), `unassigned` (waiting for a person), `all` (waiting or claimed)
and `resolved` (handed back to the bot after a handoff). A search narrows any view to the
conversations whose id, tags, customer (name, email, phone, company) or messages contain the
words, or whose case has the number given ("670", "case 670", "#670").
"""

from __future__ import annotations

import re
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from crm_store.enums import ConversationStatus
from crm_store.models import Case, Conversation, ConversationTag, Customer, Interaction

MAX_QUERY_CHARS = 200
_CASE_NUMBER = re.compile(r"#?(\d+)")
_CASE_WORDS = {"case", "ticket", "caso", "fall", "cas", "工单"}


class InboxView(StrEnum):
    """The inbox's filters."""

    MINE = "mine"
    UNASSIGNED = "unassigned"
    ALL = "all"
    RESOLVED = "resolved"


def _like(query: str) -> str:
    """A LIKE pattern for a substring, with the user's own % and _ taken literally."""
    escaped = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(query: str) -> ColumnElement[bool]:
    """Conversations whose id, customer or messages contain every word of the query."""
    conditions: list[ColumnElement[bool]] = []
    words = query.split()[:8]
    # "case 670", "#670": the number the customer was given, and only that; a bare "670" is
    # also looked for in ids and messages.
    only_case = (any(word.startswith("#") or word.lower() in _CASE_WORDS for word in words)
                 and any(_CASE_NUMBER.fullmatch(word) for word in words))
    if only_case:
        words = [word for word in words if word.lower() not in _CASE_WORDS]
    for word in words:
        like = _like(word)
        customer_ids = select(Customer.id).where(or_(
            func.lower(Customer.name).like(like, escape="\\"),
            func.lower(Customer.email).like(like, escape="\\"),
            func.lower(Customer.phone).like(like, escape="\\"),
            func.lower(Customer.company).like(like, escape="\\"),
        ))
        with_text = select(Interaction.conversation_id).where(
            func.lower(Interaction.text).like(like, escape="\\"))
        tagged = select(ConversationTag.conversation_id).where(
            ConversationTag.tag.like(like, escape="\\"))
        number = _CASE_NUMBER.fullmatch(word)
        with_case = (Conversation.id.in_(select(Case.conversation_id).where(
            Case.id == int(number.group(1)))) if number and len(number.group(1)) <= 12
            else false())
        if number and only_case:
            conditions.append(with_case)
            continue
        conditions.append(or_(
            with_case,
            func.lower(Conversation.id).like(like, escape="\\"),
            Conversation.id.in_(tagged),
            Conversation.customer_id.in_(customer_ids),
            Conversation.id.in_(with_text),
        ))
    return and_(*conditions)


def list_conversations(
    *, session: Session, view: InboxView, agent_id: int, query: str | None = None,
    limit: int = 100,
) -> list[Conversation]:
    """The conversations a view lists (narrowed by query): the open views the longest waiting
    first (the order agents work them in, overdue ones on top), resolved ones the latest first."""
    stmt = select(Conversation)
    if view == InboxView.MINE:
        stmt = stmt.where(Conversation.status == ConversationStatus.AGENT,
                          Conversation.assigned_agent_id == agent_id)
    elif view == InboxView.UNASSIGNED:
        stmt = stmt.where(Conversation.status == ConversationStatus.HANDOFF)
    elif view == InboxView.ALL:
        stmt = stmt.where(Conversation.status.in_(
            (ConversationStatus.HANDOFF, ConversationStatus.AGENT)))
    else:
        stmt = stmt.where(Conversation.status == ConversationStatus.BOT,
                          Conversation.handoff_at.is_not(None))
    if query and query.strip():
        stmt = stmt.where(_matches(query.strip()[:MAX_QUERY_CHARS]))
    if view == InboxView.RESOLVED:
        stmt = stmt.order_by(Conversation.handoff_at.desc().nulls_last(),
                             Conversation.created_at.desc())
    else:
        stmt = stmt.order_by(Conversation.handoff_at.asc().nulls_last(),
                             Conversation.created_at.asc())
    stmt = stmt.limit(limit)
    return list(session.scalars(stmt).all())

