"""Interactions: every message of every conversation, plus agents' internal notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session

from crm_store import cases, conversations, plain_text
from crm_store.db import insert_unless_exists
from crm_store.enums import Author, DeliveryStatus, Direction
from crm_store.errors import InvalidValue
from crm_store.models import AUTHORS, DIRECTIONS, Interaction, utcnow
from relay import channels

# The order of a transcript: when each message happened, then id. Ids follow the order of
# logging, and the event path logs a customer's message after Rasa committed the turn: a notice
# written meanwhile (an agent joined) has a lower id than the message it answers. created_at is
# Rasa's event time for a logged turn and the time of writing for the rest.
TRANSCRIPT_ORDER = (Interaction.created_at, Interaction.id)


def record(
    *,
    session: Session,
    conversation_id: str,
    direction: str,
    author: str,
    text: str,
    channel: str | None = None,
    customer_id: int | None = None,
    intent: str | None = None,
    confidence: float | None = None,
    faq_entry_id: str | None = None,
    agent_id: int | None = None,
    note: bool = False,
    created_at: datetime | None = None,
    dedupe_key: str | None = None,
    delivered: bool = False,
    buttons: list[dict[str, str]] | None = None,
) -> Interaction:
    """Log one message (conversation created if new); a repeated dedupe_key returns the first.

    delivered=True for an outbound message the customer already got as it was written (a
    reply in the widget's HTTP answer), so no channel delivers it again (see out_of_turn).
    """
    if direction not in DIRECTIONS:
        raise InvalidValue(f"direction must be one of {', '.join(DIRECTIONS)}.")
    text = plain_text.clean(text)  # agents' replies and notes too
    if author not in AUTHORS:
        raise InvalidValue(f"author must be one of {', '.join(AUTHORS)}.")
    if dedupe_key is not None:
        existing = session.scalars(
            select(Interaction).where(Interaction.dedupe_key == dedupe_key)
        ).first()
        if existing is not None:
            return existing
    # Locked: a customer linked to the conversation meanwhile (conversations.link_customer
    # back-fills the rows it can see) is either seen here or sees this row; on PostgreSQL an
    # unlocked read let a message logged during the link keep no customer for ever.
    conversation = conversations.get_or_create(
        session=session, conversation_id=conversation_id, channel=channel, lock=True
    )
    when = created_at or utcnow()
    interaction = Interaction(
        conversation_id=conversation.id,
        customer_id=customer_id if customer_id is not None else conversation.customer_id,
        channel=channel or conversation.channel,
        direction=direction,
        author=author,
        text=text or "",
        intent=intent,
        confidence=confidence,
        faq_entry_id=faq_entry_id,
        agent_id=agent_id,
        note=note,
        dedupe_key=dedupe_key,
        created_at=when,
        delivered_at=when if delivered else None,
        delivery_attempts=0,
        buttons=buttons,
    )
    if dedupe_key is None:
        session.add(interaction)
        session.flush()
    else:
        # Two deliveries of the same event may race: the unique key decides, not the select
        # above.
        values = {
            column.key: getattr(interaction, column.key)
            for column in Interaction.__table__.columns
            if column.key != "id"
        }
        new_id = insert_unless_exists(session, Interaction, values, ["dedupe_key"])
        if new_id is None:
            return session.scalars(
                select(Interaction).where(Interaction.dedupe_key == dedupe_key)
            ).one()
        interaction = session.get_one(Interaction, new_id)
    if not note and (conversation.last_message_at is None or when > conversation.last_message_at):
        conversation.last_message_at = when
        session.flush()
    if author == Author.AGENT and not note:
        cases.record_first_reply(session=session, conversation_id=conversation.id,
                                 agent_id=agent_id, at=when)
    return interaction


def get_by_key(*, session: Session, dedupe_key: str) -> Interaction | None:
    """The message logged under dedupe_key, if any."""
    return session.scalars(select(Interaction).where(Interaction.dedupe_key == dedupe_key)).first()


def add_note(
    *, session: Session, conversation_id: str, text: str, agent_id: int | None = None
) -> Interaction:
    """An agent's internal note on a conversation; never delivered to the customer."""
    return record(
        session=session,
        conversation_id=conversation_id,
        direction=Direction.OUTBOUND,
        author=Author.AGENT,
        text=text,
        agent_id=agent_id,
        note=True,
    )


def list_for_conversation(
    *,
    session: Session,
    conversation_id: str,
    include_notes: bool = True,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[Interaction]:
    """A conversation's interactions in the order they happened (after_id: only rows logged
    since, by id; the last row need not have the highest id)."""
    stmt = select(Interaction).where(Interaction.conversation_id == conversation_id)
    if not include_notes:
        stmt = stmt.where(Interaction.note.is_(False))
    if after_id is not None:
        stmt = stmt.where(Interaction.id > after_id)
    stmt = stmt.order_by(*TRANSCRIPT_ORDER)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).all())


def timeline_for_customer(
    *,
    session: Session,
    customer_id: int,
    include_notes: bool = True,
    limit: int = 200,
    offset: int = 0,
) -> list[Interaction]:
    """All of a customer's interactions across conversations and channels, oldest first."""
    stmt = select(Interaction).where(Interaction.customer_id == customer_id)
    if not include_notes:
        stmt = stmt.where(Interaction.note.is_(False))
    stmt = stmt.order_by(*TRANSCRIPT_ORDER).limit(limit).offset(offset)
    return list(session.scalars(stmt).all())


def out_of_turn() -> ColumnElement[bool]:
    """The messages a channel must deliver itself: for the customer, not given in a turn.

    An agent's reply, a notice from Relay (author system: a person joined, the bot is back), a
    bot reply nobody was waiting for in the turn (always on a pushing channel such as Telegram,
    on the widget when a message was replayed after Rasa was down) — everything outbound that
    is not an internal note and not recorded delivered. Push channels claim these
    (delivered_at); the widget's stream reads them per browser, so an agent's reply, which the
    stream never marks, stays in the set there.
    """
    return and_(
        Interaction.direction == Direction.OUTBOUND,
        Interaction.note.is_(False),
        or_(Interaction.author == Author.AGENT, Interaction.delivered_at.is_(None)),
    )


def delivery_status(row: Interaction) -> str | None:
    """pending / delivered / failed for an outbound message; None for the rest."""
    if row.direction != Direction.OUTBOUND or row.note:
        return None
    if row.failed_at is not None:
        return DeliveryStatus.FAILED
    return DeliveryStatus.DELIVERED if row.delivered_at is not None else DeliveryStatus.PENDING


def clicked_titles(rows: list[Interaction]) -> list[str | None]:
    """For each row, the title of the bot's button it is a click on, or None.

    A click reaches the CRM as its payload ("/ask_human"), which the widget showed as the
    button's title ("Talk to a person"); the latest button offered with that payload names it.
    """
    offered: dict[str, str] = {}
    titles: list[str | None] = []
    for row in rows:
        if row.author == Author.BOT:
            offered.update({str(b["payload"]): str(b["title"]) for b in row.buttons or []
                            if isinstance(b, dict) and b.get("payload") and b.get("title")})
        titles.append(offered.get(row.text) if row.author == Author.CUSTOMER else None)
    return titles


def list_undelivered(
    *,
    session: Session,
    channel: str | None = None,
    conversation_id: str | None = None,
    limit: int = 100,
) -> list[Interaction]:
    """Out-of-turn messages no worker has delivered or given up on, oldest id first."""
    if channel is not None:
        channels.get(channel)  # ValueError naming the channels
    stmt = select(Interaction).where(out_of_turn(), Interaction.delivered_at.is_(None),
                                     Interaction.failed_at.is_(None))
    if channel is not None:
        stmt = stmt.where(Interaction.channel == channel)
    if conversation_id is not None:
        stmt = stmt.where(Interaction.conversation_id == conversation_id)
    return list(session.scalars(stmt.order_by(Interaction.id).limit(limit)).all())


def claim_for_delivery(*, session: Session, interaction_id: int, until: datetime) -> bool:
    """Take a waiting message for one send, until `until`; True only for the one caller that did.

    The claim is a lease on next_attempt_at: a worker that dies mid-send leaves it to expire.
    """
    now = utcnow()
    result = session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_id, Interaction.delivered_at.is_(None),
               Interaction.failed_at.is_(None),
               or_(Interaction.next_attempt_at.is_(None), Interaction.next_attempt_at <= now))
        .values(next_attempt_at=until)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount == 1


def mark_delivered(*, session: Session, interaction_id: int) -> bool:
    """Set delivered_at if it is still NULL; True only for the one caller that set it."""
    # A single conditional UPDATE: on PostgreSQL a concurrent claimer blocks on the row lock
    # and then matches nothing; on SQLite writers are serialised. Either way one caller wins.
    result = session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_id, Interaction.delivered_at.is_(None),
               Interaction.failed_at.is_(None))
        .values(delivered_at=utcnow(), delivery_error=None, next_attempt_at=None,
                delivery_attempts=Interaction.delivery_attempts + 1)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount == 1


def mark_failed(*, session: Session, interaction_id: int, error: str) -> None:
    """The channel can never deliver this message (blocked bot, deleted chat): say why."""
    session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_id, Interaction.delivered_at.is_(None))
        .values(failed_at=utcnow(), delivery_error=error[:1000], next_attempt_at=None,
                delivery_attempts=Interaction.delivery_attempts + 1)
        .execution_options(synchronize_session="fetch")
    )


def mark_retry(*, session: Session, interaction_id: int, error: str,
               not_before: datetime) -> None:
    """A try failed in a way that may pass: count it, note why, and when to try again."""
    session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_id, Interaction.delivered_at.is_(None))
        .values(delivery_error=error[:1000], next_attempt_at=not_before,
                delivery_attempts=Interaction.delivery_attempts + 1)
        .execution_options(synchronize_session="fetch")
    )


def retry_failed(*, session: Session, interaction_id: int) -> bool:
    """Put a failed message back in the outbox (an agent asked to try again); True if it was."""
    result = session.execute(
        update(Interaction)
        .where(Interaction.id == interaction_id, Interaction.failed_at.is_not(None),
               Interaction.delivered_at.is_(None))
        .values(failed_at=None, next_attempt_at=None)
        .execution_options(synchronize_session="fetch")
    )
    return cast(CursorResult[Any], result).rowcount == 1


def out_of_turn_for_stream(
    *, session: Session, conversation_id: str, after_id: int, since: datetime, limit: int = 100
) -> list[Interaction]:
    """A conversation's out-of-turn messages with id > after_id or created since, by id.

    By id, not TRANSCRIPT_ORDER: a stream resumes after the last id it sent (Last-Event-ID),
    so what it sends must rise in id, or a reconnect would skip what it had not sent yet.
    """
    return list(session.scalars(
        select(Interaction)
        .where(Interaction.conversation_id == conversation_id, out_of_turn(),
               or_(Interaction.id > after_id, Interaction.created_at >= since))
        .order_by(Interaction.id).limit(limit)
    ).all())
