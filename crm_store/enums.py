"""The CRM's value sets as string enums; the database stores their plain string values.

A StrEnum member is a str (`ConversationStatus.BOT == "bot"`), so values read back from the
database compare equal to members. Membership of a plain string is tested against the tuples in
crm_store.models (`"bot" in CONVERSATION_STATUSES`): Python 3.11 raises on `"bot" in Enum`.
Channel names are not here: they belong to the channel registry (relay.channels).
"""

from __future__ import annotations

from enum import StrEnum


class ConversationStatus(StrEnum):
    """Who has the conversation: the bot, nobody yet (waiting for a person), or an agent.

    Only crm_store.support assigns it.
    """

    BOT = "bot"
    HANDOFF = "handoff"
    AGENT = "agent"


class Direction(StrEnum):
    """Which way a message went."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Author(StrEnum):
    """Who wrote a message: the customer, the bot, an agent, or Relay itself (notices)."""

    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class CustomerType(StrEnum):
    """How far a person has come: anonymous visitor, sales lead, paying customer (in order)."""

    VISITOR = "visitor"
    LEAD = "lead"
    CUSTOMER = "customer"


class LeadStage(StrEnum):
    """Where a lead is in the sales pipeline (in pipeline order)."""

    NEW = "new"
    QUALIFIED = "qualified"
    CONTACTED = "contacted"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"


class CaseType(StrEnum):
    """What a case is about."""

    QUESTION = "question"
    PROBLEM = "problem"
    HANDOFF = "handoff"
    COMPLAINT = "complaint"
    REQUEST = "request"
    OTHER = "other"


class CasePriority(StrEnum):
    """How urgent a case is."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CaseStatus(StrEnum):
    """Where a case is: open and pending cases still need work."""

    OPEN = "open"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Role(StrEnum):
    """What a user may do: agents, managers and admins work cases and conversations, viewers
    only read. A manager also sees the whole team's Insights; an agent sees only their own."""

    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"
    VIEWER = "viewer"


class DeliveryStatus(StrEnum):
    """Where an outbound message is on its way to the customer (crm_store.interactions).

    Pending until its channel accepted it (or, on a pulling channel, until it is in the
    customer's hands in the turn); failed with a reason when the channel can never deliver it
    (the customer blocked the bot) or gave up.
    """

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class InboxOutcome(StrEnum):
    """What became of a message a channel received (crm_store.inbox)."""

    ANSWERED = "answered"  # Rasa took it (and answered, unless a person has the conversation)
    FOR_PERSON = "for-person"  # Rasa stayed unreachable: logged and queued for a person
    SKIPPED = "skipped"  # nothing to hand Rasa (an update without a message we read)

class FaqOutcome(StrEnum):
    """What became of a customer's question at the FAQ search (crm_store.faq_outcomes)."""

    ANSWERED = "answered"
    CLARIFY = "clarify"  # "did you mean …?"
    DECLINED = "declined"


class GapRunStatus(StrEnum):
    """Where a knowledge-gap mining run is (crm_store.gaps)."""

    RUNNING = "running"  # one at a time; after 30 minutes it is taken for dead
    DONE = "done"  # its clusters are what the Insights page shows
    FAILED = "failed"  # the error says why


class GapRunTrigger(StrEnum):
    """What started a knowledge-gap mining run."""

    MANUAL = "manual"  # someone pressed "mine again" (the API)
    NIGHTLY = "nightly"  # relay.nightly
    CLI = "cli"  # python -m crm_store.gaps
    SETUP = "setup"  # python -m relay.setup, the first time


class GapClusterStatus(StrEnum):
    """What was done about a knowledge gap: nothing yet, turned into the FAQ, or dismissed."""

    OPEN = "open"
    APPLIED = "applied"  # its questions went into the FAQ (paraphrases or a new entry)
    DISMISSED = "dismissed"  # not worth an entry; its questions are not mined again
