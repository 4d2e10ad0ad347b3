"""SQLAlchemy 2.0 typed models of the CRM; all times are timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crm_store.enums import (
    Author,
    CasePriority,
    CaseStatus,
    CaseType,
    ConversationStatus,
    CustomerType,
    Direction,
    FaqOutcome,
    GapClusterStatus,
    GapRunStatus,
    LeadStage,
    Role,
)

# Value sets (crm_store.enums), stored as plain strings, checked by the repository functions
# and schemas. Tuples, because `"bot" in ConversationStatus` raises on Python 3.11. Channel
# names come from the channel registry (relay.channels).
CUSTOMER_TYPES = tuple(CustomerType)
CONVERSATION_STATUSES = tuple(ConversationStatus)
DIRECTIONS = tuple(Direction)
AUTHORS = tuple(Author)
LEAD_STAGES = tuple(LeadStage)
OPEN_LEAD_STAGES = (LeadStage.NEW, LeadStage.QUALIFIED, LeadStage.CONTACTED, LeadStage.PROPOSAL)
CASE_TYPES = tuple(CaseType)
CASE_PRIORITIES = tuple(CasePriority)
CASE_STATUSES = tuple(CaseStatus)
OPEN_CASE_STATUSES = (CaseStatus.OPEN, CaseStatus.PENDING)
ROLES = tuple(Role)
MAX_ID = 2**63 - 1  # the largest integer key SQLite and PostgreSQL (bigint) can compare with
FAQ_OUTCOMES = tuple(FaqOutcome)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that is always stored and returned as aware UTC (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations get stable constraint names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Timestamps:
    """created_at / updated_at columns."""

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class User(Timestamps, Base):
    """An agent, admin or viewer of the console and the CRM API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default=Role.AGENT)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class UserSession(Base):
    """One login of a user: a console cookie or an API bearer token (only its hash is kept).

    Logging out, deactivating the user or revoking their sessions sets revoked_at; a copied
    cookie or token then stops working at once. A token handed to a console page (the Insights
    page's API token) has the console login as its parent and ends with it.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "console" or "api"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_sessions.id", ondelete="CASCADE"), index=True)


class ServiceToken(Base):
    """A machine credential; only the hash of the token is kept."""

    __tablename__ = "service_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20), default=Role.AGENT)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Timestamps, Base):
    """A person we talk to: an anonymous visitor, a lead or a customer."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    company: Mapped[str | None] = mapped_column(String(200), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(20), default=CustomerType.VISITOR)
    contact_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # The customer's id on the company's own website, as its identity verification signs it
    # (crm_store.verification): a signed-in visitor with this id is this customer.
    external_id: Mapped[str | None] = mapped_column(String(200), index=True, unique=True)
    # The language they write in (relay.languages code): their latest conversation's, or set by
    # an agent; None while unknown.
    language: Mapped[str | None] = mapped_column(String(12))

    identities: Mapped[list[ChannelIdentity]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", lazy="selectin"
    )


class ChannelIdentity(Base):
    """How a customer is known on a personal channel (web session id, Telegram chat id)."""

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the customer proved who they are on this channel (a code from their mail, the
    # website's signed identity): the chat or session then stays verified.
    verified_at: Mapped[datetime | None] = mapped_column()

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Conversation(Base):
    """One Rasa conversation; its id is Rasa's sender_id: a channel's id prefix + customer id."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(
        String(20), default=ConversationStatus.BOT, index=True
    )
    assigned_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    handoff_reason: Mapped[str | None] = mapped_column(Text)
    handoff_at: Mapped[datetime | None] = mapped_column()
    # When the bot last got it back (a resolve, Rasa's resume): a pause read later that is
    # older than this is stale (crm_store.ingest).
    bot_since: Mapped[datetime | None] = mapped_column()
    # The case the current handoff opened (crm_store.support): resolving closes it, not the
    # conversation's other cases. Not a foreign key: cases already refer to conversations, and
    # on SQLite adding one means rebuilding this table, which cascades to its interactions.
    # Cases are never deleted; an id that finds no case resolves nothing.
    handoff_case_id: Mapped[int | None] = mapped_column(Integer)
    # The language the bot detected last (Rasa's `language` slot, via crm_store.ingest); the
    # support desk's notices are written in it. None until the customer has written.
    language: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_message_at: Mapped[datetime | None] = mapped_column()
    # customer_id is verified (not just claimed by a typed email) once verified_at is set;
    # verified_by says how: "email-code" or "website" (crm_store.verification).
    verified_at: Mapped[datetime | None] = mapped_column()
    verified_by: Mapped[str | None] = mapped_column(String(20))


class Interaction(Base):
    """One message of a conversation (or an agent's internal note, never sent to customers).

    created_at is when the message happened (Rasa's event time for a logged turn) and, then
    the id, gives the order of the conversation (interactions.TRANSCRIPT_ORDER); the
    autoincrement id is the order of logging, which readers that resume use as a cursor.
    dedupe_key makes ingesting the same Rasa event (or the same channel message) twice a no-op.
    delivered_at is set once a channel worker has claimed a message for delivery and the
    channel accepted it; ids alone cannot say that, as concurrent transactions may commit out
    of id order.
    """

    __tablename__ = "interactions"
    __table_args__ = (
        # INCLUDE (PostgreSQL): "the message before this one" is answered from the index alone.
        Index("ix_interactions_conversation_id_id", "conversation_id", "id",
              postgresql_include=["author", "faq_entry_id"]),
        Index("ix_interactions_undelivered", "channel", "author", "delivered_at"),
        # The Insights figures (crm_store.insights): FAQ answers, question outcomes, requests
        # for a person, each within a date range (see migration 9c1f2e7d4b10).
        Index("ix_interactions_answers", "created_at", "faq_entry_id",
              postgresql_where=text("faq_entry_id IS NOT NULL"),
              sqlite_where=text("faq_entry_id IS NOT NULL")),
        Index("ix_interactions_outcomes", "created_at", "faq_outcome", "channel",
              postgresql_where=text("faq_outcome IS NOT NULL"),
              sqlite_where=text("faq_outcome IS NOT NULL")),
        Index("ix_interactions_intent_created_at", "intent", "created_at",
              postgresql_include=["conversation_id", "id", "channel"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))
    author: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float)
    faq_entry_id: Mapped[str | None] = mapped_column(String(200))
    # On a customer's message: what the FAQ search made of it, and the top hit's score if known.
    faq_outcome: Mapped[str | None] = mapped_column(String(10))
    faq_score: Mapped[float | None] = mapped_column(Float)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[bool] = mapped_column(Boolean, default=False)
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The outbox (bot/channels/delivery.py): an outbound message is delivered (delivered_at),
    # failed for good (failed_at, delivery_error: the customer blocked the bot) or pending,
    # retried after next_attempt_at; buttons go with the text (inline keyboards on Telegram).
    delivered_at: Mapped[datetime | None] = mapped_column()
    failed_at: Mapped[datetime | None] = mapped_column()
    delivery_error: Mapped[str | None] = mapped_column(Text)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    buttons: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)


class Attachment(Base):
    """A file in a conversation (an image or a PDF a customer or an agent sent), kept with the
    message that carries it.

    The bytes are in the database: it is the one store every API worker, the Telegram bridge
    and a backup already share (no volume to mount per replica, erasure in one transaction).
    content_type is sniffed from the bytes (crm_store.attachments), never taken from the
    client; filename is sanitised. The bytes are loaded only when asked for (deferred).
    """

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    # The message that carries it ("[file: invoice.pdf]"): one file per message.
    interaction_id: Mapped[int] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lead(Timestamps, Base):
    """A sales opportunity raised by a customer; at most one open lead per customer."""

    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    interest: Mapped[str | None] = mapped_column(Text)
    company_size: Mapped[str | None] = mapped_column(String(50))
    budget: Mapped[str | None] = mapped_column(String(100))
    timeline: Mapped[str | None] = mapped_column(String(100))
    source_channel: Mapped[str | None] = mapped_column(String(20))
    stage: Mapped[str] = mapped_column(String(20), default=LeadStage.NEW, index=True)
    lost_reason: Mapped[str | None] = mapped_column(Text)
    expected_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Opened from a conversation that did not verify the customer: the email was only typed.
    unverified: Mapped[bool] = mapped_column(Boolean, default=False)

    history: Mapped[list[LeadStageChange]] = relationship(
        back_populates="lead",
        cascade="all, delete-orphan",
        order_by="LeadStageChange.id",
        lazy="selectin",
    )


class LeadStageChange(Base):
    """One move of a lead through the pipeline."""

    __tablename__ = "lead_stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="history")


class Case(Timestamps, Base):
    """A support ticket: a question, a problem, a handoff to an agent, a complaint."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_type_created_at", "type", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20), default=CaseType.QUESTION)
    priority: Mapped[str] = mapped_column(String(10), default=CasePriority.NORMAL)
    status: Mapped[str] = mapped_column(String(10), default=CaseStatus.OPEN, index=True)
    # Opened from a conversation that did not verify the customer: the email was only typed.
    unverified: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None] = mapped_column()  # first move to resolved/closed
    # A handoff case: the first agent reply after it was opened, and who wrote it.
    first_reply_at: Mapped[datetime | None] = mapped_column()
    first_reply_agent_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class CannedReply(Timestamps, Base):
    """A reply agents insert with one click; {{customer.name}}-style placeholders are filled in
    for the conversation (crm_store.canned). Managed by admins."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100), unique=True)
    body: Mapped[str] = mapped_column(Text)


class ConversationTag(Base):
    """A label an agent put on a conversation ("billing", "vip")."""

    __tablename__ = "conversation_tags"

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SatisfactionRating(Base):
    """A customer's 1-5 rating of a handoff, given in the widget once it was resolved."""

    __tablename__ = "satisfaction_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # The handoff case rated: one rating per handoff (rating again replaces it).
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class VerificationCode(Base):
    """A one-time code mailed to prove a conversation's customer owns an email address.

    Only an HMAC of the code is kept. A code is issued for every address asked about, known or
    not (customer_id is None then, and nothing is mailed), so the conversation behaves the same
    either way. used_at is set when it matched or was replaced by a newer code.
    """

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class AuditLog(Base):
    """Who changed what: one row per change made through the API or a service."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InboundMessage(Base):
    """A message a channel received, kept until it has been handed to Rasa (crm_store.inbox).

    Stored before the channel is told it arrived (Telegram's update offset, the widget's HTTP
    answer), so a crash never loses it; (channel, external_id) makes a redelivery a no-op.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_inbox_pending", "channel", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))  # Telegram update id, widget message id
    conversation_id: Mapped[str | None] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class EventCursor(Base):
    """How far the CRM has applied Rasa's tracker events (crm_store.events).

    position is the highest event id applied; holes are lower ids not visible yet when it was
    passed (on PostgreSQL ids are taken before commit), each with when it was first missed.
    """

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    holes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantinedEvent(Base):
    """A Rasa event the CRM could not apply, kept with the error instead of blocking the rest."""

    __tablename__ = "event_quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, unique=True)  # Rasa's events.id
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    data: Mapped[str] = mapped_column(Text)  # the event as Rasa stored it
    error: Mapped[str] = mapped_column(Text)
    quarantined_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column()  # applied by a later retry

class GapRun(Base):
    """One mining of knowledge gaps (crm_store.gaps): when, why, over how many questions."""

    __tablename__ = "knowledge_gap_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(20))  # a GapRunTrigger
    actor: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=GapRunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column()
    questions: Mapped[int] = mapped_column(Integer, default=0)
    clusters: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class GapCluster(Base):
    """A group of similar questions the bot could not answer well, and what was done about it."""

    __tablename__ = "knowledge_gap_clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_gap_runs.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(Text)  # the most central question
    size: Mapped[int] = mapped_column(Integer)
    weekly: Mapped[list[int]] = mapped_column(JSON)  # questions per week, oldest first
    trend: Mapped[float] = mapped_column(Float, default=0.0)  # last half vs first half, -1..+1
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # id, text, at, outcome
    nearest_entry_id: Mapped[str | None] = mapped_column(String(100))
    nearest_question: Mapped[str | None] = mapped_column(Text)
    nearest_similarity: Mapped[float | None] = mapped_column(Float)
    agent_answer: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=GapClusterStatus.OPEN)
    applied_entry_id: Mapped[str | None] = mapped_column(String(100))
    applied_by: Mapped[str | None] = mapped_column(String(200))
    applied_at: Mapped[datetime | None] = mapped_column()


class CustomerSegment(Base):
    """A customer's RFM figures and loyalty segment, as of the last crm_store.segments run."""

    __tablename__ = "customer_segments"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    recency_days: Mapped[float] = mapped_column(Float)
    frequency: Mapped[int] = mapped_column(Integer)
    monetary: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    r_score: Mapped[int] = mapped_column(Integer)
    f_score: Mapped[int] = mapped_column(Integer)
    m_score: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(20), index=True)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
