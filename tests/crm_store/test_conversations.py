"""Conversations and interactions: creation, status, linking, order, dedupe, timelines."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_store import conversations, customers, interactions


@pytest.mark.parametrize(
    ("conversation_id", "channel"),
    [("web-abc123", "web"), ("tg-555", "telegram"), ("rest-1", "rest"), ("default", "rest")],
)
def test_get_or_create_infers_channel(session: Session, conversation_id: str, channel: str) -> None:
    conversation = conversations.get_or_create(session=session, conversation_id=conversation_id)
    assert (conversation.channel, conversation.status) == (channel, "bot")
    assert (
        conversations.get_or_create(session=session, conversation_id=conversation_id)
        is conversation
    )


def test_known_telegram_chat_links_new_conversation(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="t@example.com")
    customers.attach_identity(
        session=session, customer_id=c.id, channel="telegram", external_id="777"
    )
    assert (
        conversations.get_or_create(session=session, conversation_id="tg-777").customer_id == c.id
    )


def test_link_customer_backfills_earlier_interactions(session: Session) -> None:
    for text in ("hi", "I need a quote"):
        interactions.record(
            session=session,
            conversation_id="web-x",
            direction="inbound",
            author="customer",
            text=text,
        )
    c = customers.create(session=session, actor="test", email="x@example.com")
    conversations.link_customer(
        session=session, actor="test", conversation_id="web-x", customer_id=c.id
    )
    later = interactions.record(
        session=session, conversation_id="web-x", direction="outbound", author="bot", text="sure"
    )
    rows = interactions.list_for_conversation(session=session, conversation_id="web-x")
    assert [r.customer_id for r in rows] == [c.id, c.id, c.id]
    assert later.customer_id == c.id


def test_record_keeps_conversation_order_and_dedupes(session: Session) -> None:
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    a = interactions.record(
        session=session,
        conversation_id="web-o",
        direction="inbound",
        author="customer",
        text="one",
        created_at=t0,
        dedupe_key="k1",
    )
    again = interactions.record(
        session=session,
        conversation_id="web-o",
        direction="inbound",
        author="customer",
        text="one",
        created_at=t0,
        dedupe_key="k1",
    )
    interactions.record(
        session=session,
        conversation_id="web-o",
        direction="outbound",
        author="bot",
        text="two",
        created_at=t0 + timedelta(seconds=1),
    )
    interactions.add_note(session=session, conversation_id="web-o", text="VIP customer")
    assert again.id == a.id
    rows = interactions.list_for_conversation(session=session, conversation_id="web-o")
    assert [r.text for r in rows] == ["one", "two", "VIP customer"]
    assert rows[0].created_at == t0
    public = interactions.list_for_conversation(
        session=session, conversation_id="web-o", include_notes=False
    )
    assert [r.text for r in public] == ["one", "two"]
    newer = interactions.list_for_conversation(
        session=session, conversation_id="web-o", after_id=a.id
    )
    assert [r.text for r in newer] == ["two", "VIP customer"]
    conversation = conversations.get_or_raise(session=session, conversation_id="web-o")
    assert conversation.last_message_at == t0 + timedelta(seconds=1)
    with pytest.raises(ValueError, match="direction"):
        interactions.record(
            session=session, conversation_id="web-o", direction="up", author="bot", text=""
        )


def test_timeline_spans_channels_in_time_order(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="multi@example.com")
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conversations.link_customer(
        session=session, actor="test", conversation_id="web-a", customer_id=c.id
    )
    conversations.link_customer(
        session=session, actor="test", conversation_id="tg-9", customer_id=c.id
    )
    interactions.record(
        session=session,
        conversation_id="tg-9",
        direction="inbound",
        author="customer",
        text="second",
        created_at=t0 + timedelta(hours=1),
    )
    interactions.record(
        session=session,
        conversation_id="web-a",
        direction="inbound",
        author="customer",
        text="first",
        created_at=t0,
    )
    timeline = interactions.timeline_for_customer(session=session, customer_id=c.id)
    assert [(r.text, r.channel) for r in timeline] == [("first", "web"), ("second", "telegram")]


def test_racing_duplicate_insert_is_ignored(session: Session) -> None:
    from crm_store.db import insert_unless_exists
    from crm_store.models import Conversation, Interaction

    first = interactions.record(
        session=session,
        conversation_id="web-r",
        direction="inbound",
        author="customer",
        text="x",
        dedupe_key="same",
    )
    twin = {
        "conversation_id": "web-r",
        "channel": "web",
        "direction": "inbound",
        "author": "customer",
        "text": "x",
        "note": False,
        "dedupe_key": "same",
        "created_at": first.created_at,
    }
    assert insert_unless_exists(session, Interaction, twin, ["dedupe_key"]) is None
    assert len(interactions.list_for_conversation(session=session, conversation_id="web-r")) == 1
    again = {"id": "web-r", "channel": "web", "status": "bot"}
    assert insert_unless_exists(session, Conversation, again, ["id"]) is None


def test_a_message_logged_while_its_conversation_is_linked_gets_the_customer(
    sessions: sessionmaker[Session],
) -> None:
    """The event reader has the conversation in hand (customer unknown) when identification
    links it to a customer in another transaction; the message it then logs must still get
    the customer. An unlocked, cached read left it with none on PostgreSQL: out of the
    customer's timeline for ever."""
    with sessions.begin() as session:
        interactions.record(session=session, conversation_id="web-race", direction="inbound",
                            author="customer", text="hi")
        customer_id = customers.create(session=session, actor="test", email="r@example.com").id
    logging = sessions()
    logging.begin()
    seen = conversations.get_or_create(session=logging, conversation_id="web-race")
    assert seen.customer_id is None

    def link() -> None:
        with sessions.begin() as session:
            conversations.link_customer(session=session, actor="test",
                                        conversation_id="web-race", customer_id=customer_id)

    linker = threading.Thread(target=link)
    linker.start()
    linker.join(timeout=3)  # done at once: the reader holds no lock yet
    racing = interactions.record(session=logging, conversation_id="web-race",
                                 direction="inbound", author="customer", text="my email is…")
    racing_id = racing.id
    logging.commit()
    logging.close()
    linker.join(timeout=30)
    assert not linker.is_alive()
    with sessions() as session:
        rows = interactions.list_for_conversation(session=session, conversation_id="web-race")
        assert racing_id in {r.id for r in rows}
        assert [r.customer_id for r in rows] == [customer_id, customer_id]
