"""What the console pages show, assembled from the CRM's repository functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from crm_store import (
    agent_inbox,
    attachments,
    cases,
    conversations,
    customers,
    interactions,
    leads,
    tags,
    users,
)
from crm_store.agent_inbox import InboxView
from crm_store.api.auth import CONSOLE_ROLES
from crm_store.enums import Author, ConversationStatus
from crm_store.models import LEAD_STAGES, Attachment, Customer, Interaction, utcnow
from relay import channels, languages
from relay.channels import Delivery

PREVIEW_CHARS = 120
DELIVERIES_SHOWN = 50  # the latest messages whose delivery state the live page refreshes
# The first reply a waiting customer should get (the queue's SLA timer counts down to it).
FIRST_REPLY_DUE = timedelta(minutes=5)


def waiting(since: datetime | None, now: datetime | None = None) -> str:
    """How long ago `since` was, for people: "just now", "4 min", "2 h 5 min", "3 d"."""
    if since is None:
        return ""
    seconds = max(0, int(((now or utcnow()) - since).total_seconds()))
    if seconds < 60:
        return "just now"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d"


def clock(value: datetime | None) -> str:
    """A timestamp as "2026-11-25 14:03 UTC"."""
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def delivery(row: Interaction) -> dict[str, Any] | None:
    """Where an outbound message is on a channel that sends it (Telegram): status and why.

    None for the rest: the widget fetches its messages itself, so there is nothing to track.
    """
    channel = channels.named(row.channel)
    status = interactions.delivery_status(row)
    if status is None or channel is None or channel.delivery != Delivery.PUSH:
        return None
    return {"id": row.id, "status": status, "error": row.delivery_error or "",
            "attempts": row.delivery_attempts or 0}


def transcript_key(row: Interaction) -> str:
    """Where a message goes in the transcript (interactions.TRANSCRIPT_ORDER) as a string that
    sorts the same way, so the live page can put a message logged late in its place."""
    return f"{row.created_at.astimezone(UTC):%Y%m%d%H%M%S%f}-{row.id:016d}"


def file_url(attachment_id: int) -> str:
    """Where a logged-in agent opens a conversation's file."""
    return f"/console/attachments/{attachment_id}"


def files_of(session: Session, rows: list[Interaction]) -> dict[int, Attachment]:
    """The files the customers' and agents' messages among rows carry, by message id."""
    return attachments.for_messages(session=session, interaction_ids=[
        r.id for r in rows if r.author in attachments.FILE_AUTHORS])


def message(row: Interaction, files: dict[int, Attachment] | None = None,
            clicked: str | None = None) -> dict[str, Any]:
    """One interaction as JSON for the page (with the file it carries, if any); clicked: the
    title of the button the customer clicked, when the text is its payload."""
    stored = (files or {}).get(row.id)
    return {"id": row.id, "author": row.author, "direction": row.direction, "text": row.text,
            "clicked": clicked,
            "note": row.note, "intent": row.intent, "conversation_id": row.conversation_id,
            "channel": row.channel, "created_at": row.created_at.isoformat(),
            "clock": clock(row.created_at), "delivery": delivery(row),
            "order": transcript_key(row),
            "attachment": (attachments.describe(stored, url=file_url(stored.id))
                           if stored is not None else None)}


def queue(
    *, session: Session, view: InboxView = InboxView.ALL, agent_id: int = 0,
    query: str | None = None,
) -> list[dict[str, Any]]:
    """The conversations of an inbox view (narrowed by a search), newest handoff first."""
    now = utcnow()
    items = []
    agents: dict[int, str] = {}
    listed = agent_inbox.list_conversations(session=session, view=view, agent_id=agent_id,
                                            query=query)
    labels = tags.tags_of(session=session, conversation_ids=[c.id for c in listed])
    for conversation in listed:
        last = interactions.list_for_conversation(session=session,
                                                  conversation_id=conversation.id,
                                                  include_notes=False)
        last_customer = next(((r, title) for r, title in zip(
            reversed(last), reversed(interactions.clicked_titles(last)), strict=True)
            if r.author == Author.CUSTOMER), None)
        customer = (customers.get(session=session, customer_id=conversation.customer_id)
                    if conversation.customer_id else None)
        agent_name = None
        if conversation.assigned_agent_id is not None:
            if conversation.assigned_agent_id not in agents:
                user = users.get(session=session, user_id=conversation.assigned_agent_id)
                agents[conversation.assigned_agent_id] = user.name if user else "?"
            agent_name = agents[conversation.assigned_agent_id]
        since = conversation.handoff_at or conversation.created_at
        replied = any(r.author == Author.AGENT and r.created_at >= since for r in last)
        # With an agent, the customer wrote last: the agent owes a reply, since that message.
        said = [r for r in last if r.author in (Author.CUSTOMER, Author.AGENT)]
        unanswered = (conversation.status == ConversationStatus.AGENT and bool(said)
                      and said[-1].author == Author.CUSTOMER and said[-1].created_at >= since)
        items.append({
            "id": conversation.id,
            "channel": conversation.channel,
            "language": languages.english_name(conversation.language),
            "status": conversation.status,
            "reason": conversation.handoff_reason or "",
            "handoff_at": since.isoformat(),
            "waiting": waiting(said[-1].created_at if unanswered else since, now),
            "waiting_since": (said[-1].created_at if unanswered else since).isoformat(),
            "unanswered": unanswered,
            "first_reply_due": (None if replied or conversation.status == "bot"
                                else (since + FIRST_REPLY_DUE).isoformat()),
            "agent": agent_name,
            "customer": (customer.name or customer.email) if customer else None,
            "preview": ((last_customer[1] or last_customer[0].text)[:PREVIEW_CHARS]
                        if last_customer else ""),
            "messages": len(last),
            "tags": labels.get(conversation.id, []),
        })
    return items


def conversation_messages(
    *, session: Session, conversation_id: str, after_id: int
) -> dict[str, Any] | None:
    """Messages and notes newer than after_id and the conversation's status; None if unknown."""
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    if conversation is None:
        return None
    rows = interactions.list_for_conversation(session=session, conversation_id=conversation_id,
                                              after_id=after_id)
    assigned = (users.get(session=session, user_id=conversation.assigned_agent_id)
                if conversation.assigned_agent_id else None)
    said = interactions.list_for_conversation(session=session, conversation_id=conversation_id,
                                              include_notes=False)
    # The delivery of messages already on the page moves on (pending -> delivered or failed).
    deliveries = [d for d in (delivery(row) for row in said[-DELIVERIES_SHOWN:]) if d is not None]
    # A click's title is named by the bot message before it, which may be on the page already.
    clicked = dict(zip((row.id for row in said), interactions.clicked_titles(said), strict=True))
    files = files_of(session, rows)
    return {"status": conversation.status, "assigned_agent_id": conversation.assigned_agent_id,
            "assigned_agent": assigned.name if assigned else None,
            "messages": [message(row, files, clicked.get(row.id)) for row in rows],
            "deliveries": deliveries}


def conversation_detail(*, session: Session, conversation_id: str) -> dict[str, Any] | None:
    """Everything the conversation page shows, or None if there is no such conversation."""
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    if conversation is None:
        return None
    rows = interactions.list_for_conversation(session=session, conversation_id=conversation_id)
    files = files_of(session, rows)
    customer = (customers.get(session=session, customer_id=conversation.customer_id)
                if conversation.customer_id else None)
    earlier: list[dict[str, Any]] = []
    customer_cases: list[Any] = []
    customer_leads: list[Any] = []
    if customer is not None:
        others = [r for r in interactions.timeline_for_customer(
            session=session, customer_id=customer.id, include_notes=False, limit=500)
            if r.conversation_id != conversation_id][-50:]
        earlier_files = files_of(session, others)
        earlier = [message(r, earlier_files, title) for r, title in zip(
            others, interactions.clicked_titles(others), strict=True)]
        customer_cases = cases.list_for_customer(session=session, customer_id=customer.id)
        customer_leads = leads.list_leads(session=session, customer_id=customer.id)[0]
    open_cases = cases.list_open_for_conversation(session=session,
                                                  conversation_id=conversation_id)
    assigned = (users.get(session=session, user_id=conversation.assigned_agent_id)
                if conversation.assigned_agent_id else None)
    return {
        "conversation": conversation,
        "language": languages.english_name(conversation.language),
        "customer_language": languages.english_name(customer.language if customer else None),
        "messages": [message(r, files, title) for r, title in zip(
            rows, interactions.clicked_titles(rows), strict=True)],
        "last_id": max((r.id for r in rows), default=0),  # the live page's cursor
        "customer": customer,
        "identities": list(customer.identities) if customer else [],
        "earlier": earlier,
        "customer_cases": customer_cases,
        "leads": customer_leads,
        "lead_stages": LEAD_STAGES,
        "open_cases": open_cases,
        "assigned": assigned,
        "waiting_for": waiting(conversation.handoff_at),
        "agents": users.list_active(session=session, roles=CONSOLE_ROLES),
        "tags": tags.list_for(session=session, conversation_id=conversation_id),
    }


def customer_json(customer: Customer) -> dict[str, Any]:
    """A customer's contact details as the console's record shows them."""
    return {"id": customer.id, "name": customer.name, "email": customer.email,
            "phone": customer.phone, "company": customer.company, "address": customer.address}
