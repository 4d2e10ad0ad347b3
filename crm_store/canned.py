"""Canned replies: texts agents insert into a reply, with placeholders filled in.

Placeholders are `{{customer.name}}`, `{{customer.first_name}}`, `{{customer.email}}`,
`{{customer.company}}`, `{{agent.name}}` and `{{agent.first_name}}`. A value that is not known
(an anonymous visitor has no name) becomes a neutral word ("there" for a name, "" otherwise);
an unknown placeholder is left as written, so a typo shows up instead of vanishing.
Created, changed and deleted by admins; every change is audited.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import audit
from crm_store.errors import InvalidValue, NotFoundError
from crm_store.models import CannedReply, Customer

ENTITY = "canned_reply"  # in the audit log
MAX_TITLE_CHARS = 100
MAX_BODY_CHARS = 4000
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\.([a-z_]+)\s*\}\}")


def list_all(*, session: Session) -> list[CannedReply]:
    """Every canned reply, by title."""
    return list(session.scalars(select(CannedReply).order_by(CannedReply.title)).all())


def _checked(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise InvalidValue("A canned reply needs a title and a text.")
    if len(title) > MAX_TITLE_CHARS or len(body) > MAX_BODY_CHARS:
        raise InvalidValue(f"Titles are at most {MAX_TITLE_CHARS} characters and texts at most "
                           f"{MAX_BODY_CHARS}.")
    return title, body


def _title_taken(session: Session, title: str, but: int | None = None) -> None:
    existing = session.scalars(select(CannedReply).where(CannedReply.title == title)).first()
    if existing is not None and existing.id != but:
        raise InvalidValue(f"There is already a canned reply called '{title}'.")


def create(*, session: Session, title: str, body: str, actor: str) -> CannedReply:
    """A new canned reply, audited; InvalidValue if empty, too long or the title is taken."""
    title, body = _checked(title, body)
    _title_taken(session, title)
    reply = CannedReply(title=title, body=body)
    session.add(reply)
    session.flush()
    audit.record_change(session=session, actor=actor, action="create", entity=ENTITY, row=reply)
    return reply


def get_or_raise(*, session: Session, reply_id: int) -> CannedReply:
    """The canned reply with that id; NotFoundError otherwise."""
    reply = session.get(CannedReply, reply_id)
    if reply is None:
        raise NotFoundError("Canned reply", reply_id)
    return reply


def update(*, session: Session, reply_id: int, title: str, body: str, actor: str) -> CannedReply:
    """Change a canned reply's title and text, audited."""
    reply = get_or_raise(session=session, reply_id=reply_id)
    title, body = _checked(title, body)
    _title_taken(session, title, but=reply.id)
    before = audit.snapshot(reply)
    reply.title, reply.body = title, body
    session.flush()
    audit.record_change(session=session, actor=actor, action="update", entity=ENTITY, row=reply,
                        before=before)
    return reply


def delete(*, session: Session, reply_id: int, actor: str) -> None:
    """Delete a canned reply, audited."""
    reply = get_or_raise(session=session, reply_id=reply_id)
    before = audit.snapshot(reply)
    session.delete(reply)
    session.flush()
    audit.record(session=session, actor=actor, action="delete", entity=ENTITY,
                 entity_id=str(reply_id), before=before, after=None)


def render(body: str, *, customer: Customer | None, agent_name: str) -> str:
    """The text with its placeholders filled in for this customer and agent."""
    name = (customer.name or "").strip() if customer else ""
    values = {
        ("customer", "name"): name or "there",
        ("customer", "first_name"): name.split()[0] if name else "there",
        ("customer", "email"): (customer.email or "") if customer else "",
        ("customer", "company"): (customer.company or "") if customer else "",
        ("agent", "name"): agent_name,
        ("agent", "first_name"): agent_name.split()[0] if agent_name.strip() else "",
    }

    def fill(match: re.Match[str]) -> str:
        return values.get((match.group(1), match.group(2)), match.group(0))

    return PLACEHOLDER.sub(fill, body)
