"""Conversation tags: short labels agents put on conversations ("billing", "vip"), audited."""

from __future__ import annotations

import re
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import audit, conversations
from crm_store.errors import InvalidValue
from crm_store.models import ConversationTag

ENTITY = "conversation_tag"  # in the audit log; entity_id is the conversation's id
TAG = re.compile(r"^[a-z0-9][a-z0-9 _-]{0,39}$")
MAX_TAGS = 20


def normalise(tag: str) -> str:
    """The stored form of a tag (lower case, single spaces); InvalidValue if it cannot be one."""
    cleaned = " ".join(tag.strip().lower().split())
    if not TAG.fullmatch(cleaned):
        raise InvalidValue("A tag is 1-40 letters, digits, spaces, '-' or '_', starting with a "
                           "letter or digit.")
    return cleaned


def list_for(*, session: Session, conversation_id: str) -> list[str]:
    """A conversation's tags, alphabetically."""
    return list(session.scalars(
        select(ConversationTag.tag).where(ConversationTag.conversation_id == conversation_id)
        .order_by(ConversationTag.tag)).all())


def tags_of(*, session: Session, conversation_ids: Collection[str]) -> dict[str, list[str]]:
    """The tags of several conversations at once."""
    found: dict[str, list[str]] = {}
    if not conversation_ids:
        return found
    rows = session.execute(
        select(ConversationTag.conversation_id, ConversationTag.tag)
        .where(ConversationTag.conversation_id.in_(list(conversation_ids)))
        .order_by(ConversationTag.tag)).all()
    for conversation_id, tag in rows:
        found.setdefault(conversation_id, []).append(tag)
    return found


def add(*, session: Session, conversation_id: str, tag: str, actor: str) -> list[str]:
    """Tag a conversation (nothing changes if it has the tag already); its tags after."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    cleaned = normalise(tag)
    current = list_for(session=session, conversation_id=conversation_id)
    if cleaned in current:
        return current
    if len(current) >= MAX_TAGS:
        raise InvalidValue(f"A conversation has at most {MAX_TAGS} tags.")
    session.add(ConversationTag(conversation_id=conversation_id, tag=cleaned))
    session.flush()
    audit.record(session=session, actor=actor, action="tag", entity=ENTITY,
                 entity_id=conversation_id, after={"tag": cleaned})
    return sorted([*current, cleaned])


def remove(*, session: Session, conversation_id: str, tag: str, actor: str) -> list[str]:
    """Take a tag off a conversation (nothing changes if it does not have it); its tags after."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    row = session.get(ConversationTag, (conversation_id, " ".join(tag.strip().lower().split())))
    if row is not None:
        session.delete(row)
        session.flush()
        audit.record(session=session, actor=actor, action="untag", entity=ENTITY,
                     entity_id=conversation_id, before={"tag": row.tag})
    return list_for(session=session, conversation_id=conversation_id)
