"""A customer's personal data: export it, erase it (GDPR articles 15, 17, 20), and retention.

Everything Relay keeps about a person is found from their customer record: the record itself,
their web/Telegram identities, their conversations (by customer, and by the identities' own
conversation ids) with every message and every file they sent (and the messages' copies in
the channels' inbox and the event quarantine), Rasa's tracker events of those conversations
(table `events`, in the same database), their leads and cases, their loyalty segment, their
questions quoted in knowledge-gap clusters, the audit rows about any of these, and lines of the
processes' log files that name their email or phone.

`erase` deletes all of it, blanks the audit rows' before/after snapshots (the fact that a change
happened stays, its content goes) and masks the email and phone in the log files in place
(same length, so processes appending to them are not disturbed), then writes one audit row
saying who erased which record, with counts and no personal data.

`purge_conversations` is the retention setting (RELAY_RETENTION_DAYS): conversations whose
last message is older are deleted with their messages, files and tracker events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, inspect, or_, select, text, update
from sqlalchemy.orm import Session

from crm_store import attachments, audit, conversations, interactions
from crm_store.errors import NotFoundError
from crm_store.models import (
    Attachment,
    AuditLog,
    Case,
    Conversation,
    Customer,
    GapCluster,
    InboundMessage,
    Interaction,
    Lead,
    QuarantinedEvent,
    utcnow,
)
from relay import channels

ENTITY = "customer"
TRACKER_TABLE = "events"  # Rasa's SQL tracker store, in the CRM's database
MASK = "[erased]"


@dataclass
class Footprint:
    """Where a customer's data is: the ids of every row that belongs to them."""

    customer_id: int
    conversation_ids: list[str]
    lead_ids: list[int]
    case_ids: list[int]
    secrets: list[str]  # strings that identify them in free text: email, phone


def footprint(*, session: Session, customer_id: int) -> Footprint:
    """Every row of the customer's (NotFoundError if there is no such customer)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("customer", customer_id)
    ids = set(session.scalars(
        select(Conversation.id).where(Conversation.customer_id == customer_id)))
    ids |= set(session.scalars(
        select(Interaction.conversation_id).where(Interaction.customer_id == customer_id)))
    for identity in customer.identities:
        try:
            ids.add(channels.get(identity.channel).conversation_id(identity.external_id))
        except ValueError:  # a channel no longer registered: its id cannot be derived
            continue
    existing = set(session.scalars(select(Conversation.id).where(Conversation.id.in_(ids))))
    leads = list(session.scalars(select(Lead.id).where(Lead.customer_id == customer_id)))
    cases = list(session.scalars(select(Case.id).where(or_(
        Case.customer_id == customer_id, Case.conversation_id.in_(existing)))))
    secrets = [value for value in (customer.email, customer.phone) if value and len(value) >= 5]
    return Footprint(customer_id, sorted(existing), leads, cases, secrets)


def _has_tracker_table(session: Session) -> bool:
    return inspect(session.get_bind()).has_table(TRACKER_TABLE)


def _tracker_events(session: Session, conversation_ids: list[str]) -> list[dict[str, Any]]:
    if not conversation_ids or not _has_tracker_table(session):
        return []
    rows = session.execute(
        text(f"SELECT sender_id, type_name, timestamp, data FROM {TRACKER_TABLE} "
             "WHERE sender_id IN :ids ORDER BY id").bindparams(
            _expanding("ids")), {"ids": conversation_ids}).all()
    return [{"conversation_id": r.sender_id, "type": r.type_name, "timestamp": r.timestamp,
             "data": r.data} for r in rows]


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def _audit_rows(session: Session, found: Footprint) -> list[AuditLog]:
    about = [
        (ENTITY, [str(found.customer_id)]),
        (conversations.ENTITY, found.conversation_ids),
        ("lead", [str(i) for i in found.lead_ids]),
        ("case", [str(i) for i in found.case_ids]),
    ]
    clauses = [and_entity(entity, ids) for entity, ids in about if ids]
    clauses += [cast(AuditLog.before, String).contains(secret) for secret in found.secrets]
    clauses += [cast(AuditLog.after, String).contains(secret) for secret in found.secrets]
    return list(session.scalars(select(AuditLog).where(or_(*clauses)).order_by(AuditLog.id)))


def and_entity(entity: str, ids: list[str]) -> Any:
    """Audit rows about these entities."""
    return (AuditLog.entity == entity) & AuditLog.entity_id.in_(ids)


def _row(obj: Any) -> dict[str, Any]:
    data = {column.key: getattr(obj, column.key) for column in obj.__table__.columns}
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}


def export(*, session: Session, customer_id: int) -> dict[str, Any]:
    """All the customer's data as one JSON-ready document (NotFoundError if unknown)."""
    found = footprint(session=session, customer_id=customer_id)
    customer = session.get_one(Customer, customer_id)
    messages = session.scalars(select(Interaction).where(
        Interaction.conversation_id.in_(found.conversation_ids))
        .order_by(*interactions.TRANSCRIPT_ORDER))
    return {
        "customer": _row(customer),
        "identities": [_row(i) for i in customer.identities],
        "conversations": [_row(c) for c in session.scalars(
            select(Conversation).where(Conversation.id.in_(found.conversation_ids)))],
        "messages": [_row(m) for m in messages],
        # The files' records (name, type, size, SHA-256), not their bytes: the console shows
        # each file to a logged-in agent, who can hand them over with this list.
        "files": [attachments.metadata(a) for a in session.scalars(
            select(Attachment).where(Attachment.conversation_id.in_(found.conversation_ids))
            .order_by(Attachment.id))],
        "leads": [_row(lead) | {"history": [_row(h) for h in lead.history]}
                  for lead in session.scalars(select(Lead).where(Lead.id.in_(found.lead_ids)))],
        "cases": [_row(c) for c in session.scalars(select(Case).where(
            Case.id.in_(found.case_ids)))],
        "tracker_events": _tracker_events(session, found.conversation_ids),
        "audit": [_row(a) for a in _audit_rows(session, found)],
        "exported_at": utcnow().isoformat(),
    }


@dataclass
class Erasure:
    """What an erasure removed (counts only: the audit row keeps this)."""

    customer_id: int
    conversations: int = 0
    messages: int = 0
    files: int = 0
    tracker_events: int = 0
    leads: int = 0
    cases: int = 0
    identities: int = 0
    audit_rows_blanked: int = 0
    gap_clusters_scrubbed: int = 0
    log_files_masked: int = 0


def erase(*, session: Session, customer_id: int, actor: str,
          log_dirs: Iterable[Path] = ()) -> Erasure:
    """Delete everything of the customer's, blank the audit trail's copies, mask the logs."""
    found = footprint(session=session, customer_id=customer_id)
    customer = session.get_one(Customer, customer_id)
    done = Erasure(customer_id, identities=len(customer.identities))
    ids = found.conversation_ids
    for row in _audit_rows(session, found):
        row.before, row.after = None, None
        done.audit_rows_blanked += 1
    if ids and _has_tracker_table(session):
        done.tracker_events = _count(session.execute(
            text(f"DELETE FROM {TRACKER_TABLE} WHERE sender_id IN :ids").bindparams(
                _expanding("ids")), {"ids": ids}))
    theirs = or_(Interaction.conversation_id.in_(ids), Interaction.customer_id == customer_id)
    done.gap_clusters_scrubbed = scrub_gap_clusters(
        session=session, message_ids=set(session.scalars(select(Interaction.id).where(theirs))),
        conversation_ids=set(ids), secrets=found.secrets)
    done.files = _delete_files(session, ids, customer_id)
    done.messages = (_count(session.execute(delete(Interaction).where(theirs)))
                     + _delete_copies(session, ids))
    done.cases = _count(session.execute(delete(Case).where(Case.id.in_(found.case_ids))))
    done.leads = len(found.lead_ids)
    session.execute(update(Conversation).where(Conversation.id.in_(ids))
                    .values(handoff_case_id=None))
    done.conversations = _count(session.execute(
        delete(Conversation).where(Conversation.id.in_(ids))))
    session.delete(customer)  # leads, their history, identities and segment cascade
    session.flush()
    done.log_files_masked = mask_logs(log_dirs, found.secrets)
    audit.record(session=session, actor=actor, action="erase", entity=ENTITY,
                 entity_id=customer_id, after=asdict(done))
    return done


def scrub_gap_clusters(*, session: Session, message_ids: set[int], conversation_ids: set[str],
                       secrets: Sequence[str] = ()) -> int:
    """Take these messages out of the knowledge-gap clusters quoting them; clusters changed.

    A cluster keeps copies of customers' questions (crm_store/gaps.py): the erased ones go,
    a label that was one of them becomes another kept question (or MASK), and an agents'
    answer naming an erased email or phone is dropped. The counts and trend stay: no one's.
    """
    changed = 0
    for cluster in session.scalars(select(GapCluster)):
        quoted = list(cluster.questions or [])
        kept = [q for q in quoted if q.get("conversation_id") not in conversation_ids
                and int(q.get("id") or 0) not in message_ids]
        names = [s for s in secrets if s.lower() in (cluster.agent_answer or "").lower()]
        if len(kept) == len(quoted) and not names:
            continue
        gone = {q.get("text") for q in quoted} - {q.get("text") for q in kept}
        cluster.questions = kept
        if cluster.label in gone:
            cluster.label = str(kept[0].get("text")) if kept else MASK
        if names:
            cluster.agent_answer = None
        changed += 1
    return changed


def _delete_files(session: Session, conversation_ids: list[str],
                  customer_id: int | None = None) -> int:
    """Delete the files sent in these conversations (or by this customer); how many."""
    # Explicit, not left to the foreign keys' cascade: the count goes in the audit row, and a
    # file must not outlive its message whatever the database enforces.
    in_conversations = Attachment.conversation_id.in_(conversation_ids)
    theirs = (in_conversations if customer_id is None
              else or_(in_conversations, Attachment.customer_id == customer_id))
    return _count(session.execute(delete(Attachment).where(theirs)))


def _delete_copies(session: Session, conversation_ids: list[str]) -> int:
    """Delete the other copies of the conversations' messages: what the channels received (the
    inbox) and Rasa events the CRM could not apply (the quarantine); how many rows."""
    return (_count(session.execute(delete(InboundMessage).where(
                InboundMessage.conversation_id.in_(conversation_ids))))
            + _count(session.execute(delete(QuarantinedEvent).where(
                QuarantinedEvent.sender_id.in_(conversation_ids)))))


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def mask_logs(log_dirs: Iterable[Path], secrets: list[str]) -> int:
    """Overwrite the secrets in every *.log file in place, same length; files changed."""
    if not secrets:
        return 0
    pattern = re.compile("|".join(re.escape(s) for s in secrets).encode(), re.IGNORECASE)
    changed = 0
    for directory in log_dirs:
        for path in sorted(Path(directory).glob("*.log*")):
            with path.open("r+b") as handle:
                content = handle.read()
                if not pattern.search(content):
                    continue
                for match in pattern.finditer(content):
                    handle.seek(match.start())
                    handle.write(_mask(match.end() - match.start()))
                changed += 1
    return changed


def _mask(length: int) -> bytes:
    return (MASK * (length // len(MASK) + 1))[:length].encode()


def purge_conversations(*, session: Session, older_than_days: int, actor: str) -> int:
    """Delete conversations whose last message is older than the days given (retention)."""
    if older_than_days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=older_than_days)
    old = list(session.scalars(select(Conversation.id).where(
        Conversation.last_message_at.is_not(None), Conversation.last_message_at < cutoff,
        Conversation.status == "bot")))
    if not old:
        return 0
    for chunk in (old[i:i + 500] for i in range(0, len(old), 500)):
        if _has_tracker_table(session):
            session.execute(text(f"DELETE FROM {TRACKER_TABLE} WHERE sender_id IN :ids")
                            .bindparams(_expanding("ids")), {"ids": chunk})
        scrub_gap_clusters(session=session, conversation_ids=set(chunk), message_ids=set(
            session.scalars(select(Interaction.id).where(Interaction.conversation_id.in_(chunk)))))
        _delete_files(session, chunk)
        session.execute(delete(Interaction).where(Interaction.conversation_id.in_(chunk)))
        _delete_copies(session, chunk)
        session.execute(update(Case).where(Case.conversation_id.in_(chunk))
                        .values(conversation_id=None))
        session.execute(delete(Conversation).where(Conversation.id.in_(chunk)))
    audit.record(session=session, actor=actor, action="purge", entity=conversations.ENTITY,
                 after={"conversations": len(old), "older_than_days": older_than_days})
    return len(old)




