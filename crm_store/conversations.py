"""Conversations: one per Rasa sender_id. Their status is assigned by crm_store.support only."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_store import audit, customers
from crm_store.db import insert_unless_exists
from crm_store.enums import ConversationStatus
from crm_store.errors import NotFoundError
from crm_store.models import Attachment, Conversation, Interaction, utcnow
from relay import channels

ENTITY = "conversation"  # in the audit log


def get(*, session: Session, conversation_id: str) -> Conversation | None:
    """The conversation with that id, or None."""
    return session.get(Conversation, conversation_id)


def get_or_raise(*, session: Session, conversation_id: str) -> Conversation:
    """The conversation with that id; NotFoundError otherwise."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFoundError("Conversation", conversation_id)
    return conversation


def get_or_create(
    *, session: Session, conversation_id: str, channel: str | None = None, lock: bool = False
) -> Conversation:
    """The conversation with that id, created on first sight (channel defaults from the id).

    lock: hold the row until the transaction ends (PostgreSQL's FOR UPDATE; SQLite's writes
    are serial anyway), and read its latest committed state.
    """
    conversation = session.get(Conversation, conversation_id, with_for_update=lock,
                               populate_existing=lock)
    if conversation is not None:
        return conversation
    own = channels.of_conversation(conversation_id)
    named = channels.named(channel) or own
    # A web session or Telegram chat already tied to a customer links the new conversation.
    known = customers.find_by_identity(
        session=session, channel=named.name, external_id=own.external_id(conversation_id)
    )
    # The API (ingest), the action server and the gateway may all see a new conversation at
    # once; whoever inserts first wins and the others load that row. A new conversation is the
    # bot's (the column default).
    insert_unless_exists(
        session,
        Conversation,
        {
            "id": conversation_id,
            "channel": named.name,
            "customer_id": known.id if known else None,
            "created_at": utcnow(),
        },
        ["id"],
    )
    return session.get_one(Conversation, conversation_id, with_for_update=lock,
                           populate_existing=lock)


def set_language(*, session: Session, conversation_id: str, language: str) -> bool:
    """Record the language the customer now writes in, on the conversation and its customer;
    True if it changed. Not audited: it is what the bot observed, like last_message_at, not a
    change someone made (an agent's change of a customer's language is, in customers.update)."""
    conversation = get_or_create(session=session, conversation_id=conversation_id)
    changed = conversation.language != language
    conversation.language = language
    if conversation.customer_id is not None:
        customer = customers.get(session=session, customer_id=conversation.customer_id)
        if customer is not None:
            customer.language = language
    session.flush()
    return changed


def link_customer(
    *, session: Session, conversation_id: str, customer_id: int, actor: str
) -> Conversation:
    """Tie a conversation to a customer and back-fill customer_id on its earlier interactions
    and files; audited. The conversation's language, if known, becomes the customer's."""
    customer = customers.get_or_raise(session=session, customer_id=customer_id)
    conversation = get_or_create(session=session, conversation_id=conversation_id, lock=True)
    before = audit.snapshot(conversation)
    conversation.customer_id = customer_id
    if conversation.language is not None:
        customer.language = conversation.language
    session.execute(
        update(Interaction)
        .where(Interaction.conversation_id == conversation_id, Interaction.customer_id.is_(None))
        .values(customer_id=customer_id)
        .execution_options(synchronize_session="fetch")
    )
    session.execute(
        update(Attachment)
        .where(Attachment.conversation_id == conversation_id, Attachment.customer_id.is_(None))
        .values(customer_id=customer_id)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    audit.record_change(session=session, actor=actor, action="link_customer", entity=ENTITY,
                        row=conversation, before=before)
    return conversation


def list_handoffs(
    *, session: Session, include_assigned: bool = True, limit: int = 100
) -> list[Conversation]:
    """Conversations waiting for or handled by an agent, newest handoff first."""
    statuses = [ConversationStatus.HANDOFF]
    if include_assigned:
        statuses.append(ConversationStatus.AGENT)
    rows = session.scalars(
        select(Conversation)
        .where(Conversation.status.in_(statuses))
        .order_by(Conversation.handoff_at.desc(), Conversation.created_at.desc())
        .limit(limit)
    ).all()
    return list(rows)


def list_recent(
    *, session: Session, customer_id: int | None = None, limit: int = 50
) -> list[Conversation]:
    """Most recently active conversations (optionally of one customer)."""
    stmt = select(Conversation)
    if customer_id is not None:
        stmt = stmt.where(Conversation.customer_id == customer_id)
    stmt = stmt.order_by(
        Conversation.last_message_at.desc().nulls_last(), Conversation.created_at.desc()
    ).limit(limit)
    return list(session.scalars(stmt).all())


def list_conversations(
    *,
    session: Session,
    status: str | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Conversation], int]:
    """Conversations (optionally of one status or customer), most recently active first; total."""
    conditions = []
    if status is not None:
        conditions.append(Conversation.status == status)
    if customer_id is not None:
        conditions.append(Conversation.customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(Conversation).where(*conditions)) or 0
    rows = session.scalars(
        select(Conversation)
        .where(*conditions)
        .order_by(Conversation.last_message_at.desc().nulls_last(), Conversation.created_at.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total
