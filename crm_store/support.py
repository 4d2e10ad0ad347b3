"""The support desk: a conversation handed from the bot to a person and back.

The one module that assigns Conversation.status (bot -> handoff -> agent -> bot). Every change
it makes is written to the audit log with the actor who asked for it, whoever that is: the bot
(audit.BOT, from the action server), an agent (user:<id>, from the console), an API caller (its
principal, e.g. Rasa's pause/resume events posted by the event broker) or a service
(service:<name>, e.g. the gateway when Rasa is down). Callers pass a session; these functions
flush and leave the commit to them, except resolve(), which runs a whole flow.

resolve() hands the conversation back to Rasa before it marks it "bot": if Rasa cannot be
reached, nothing changes and the agent is told, instead of a conversation the CRM shows as the
bot's while Rasa keeps it paused. Where the two still disagree for longer than a turn takes
(a conversation queued for a person while Rasa was down, a pause Rasa's old event broker
dropped), the Reconciler settles it in the person's favour: Rasa is paused where a person has
the conversation, and a conversation Rasa has paused is queued for a person.

The customer is told on their own channel when a person joins (claim) and when the bot is back
(resolve, or Rasa resumed): a notice from Relay (author system) in the conversation's language,
written here and delivered like an agent's reply (interactions.out_of_turn: the widget's stream,
the Telegram bridge's worker). Agents themselves may reply in any language.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from crm_store import (
    attachments,
    audit,
    cases,
    conversations,
    interactions,
    ratings,
    tracker,
    users,
)
from crm_store.enums import Author, CaseStatus, CaseType, ConversationStatus, Direction
from crm_store.errors import InvalidValue
from crm_store.models import (
    CONVERSATION_STATUSES,
    OPEN_CASE_STATUSES,
    Case,
    Conversation,
    Interaction,
    utcnow,
)
from relay import channels, responses

log = logging.getLogger(__name__)

# The notices' words (domain.yml, in the conversation's language: relay/responses.py).
JOINED = "utter_agent_joined"
BOT_IS_BACK = "utter_bot_is_back"
RATE_SUPPORT = "utter_rate_support"
# Rasa's servers and the API's may be different machines: a resume Rasa timestamps this much
# before the API asked for it is still taken as the one it asked for.
CLOCK_SKEW = timedelta(seconds=2)


class BotUnavailable(RuntimeError):
    """The bot (Rasa) could not be reached to take a conversation back."""


class BotControl(Protocol):
    """What the desk needs of the bot: to pause and un-pause a conversation (bot.rasa)."""

    async def resume(self, *, conversation_id: str) -> None:
        """Let the bot answer this conversation again; BotUnavailable if it cannot be told."""
        ...

    async def pause(self, *, conversation_id: str) -> None:
        """Stop the bot answering this conversation; BotUnavailable if it cannot be told."""
        ...


class Outcome(StrEnum):
    """What became of an agent's request (the console shows a sentence for each)."""

    CLAIMED = "claimed"
    REPLIED = "replied"
    FILE_SENT = "file-sent"
    NOTED = "noted"
    RESOLVED = "resolved"
    TRANSFERRED = "transferred"
    NOT_WAITING = "not-waiting"  # the bot has the conversation: nothing to do
    TAKEN = "taken"  # another agent has claimed it
    BOT_UNAVAILABLE = "rasa-down"  # Rasa could not be told, so nothing changed
    RETRYING = "retrying"  # a failed message is back in the outbox
    NOT_FAILED = "not-failed"  # the message had not failed: nothing to try again


def set_status(
    *,
    session: Session,
    conversation_id: str,
    status: str,
    actor: str,
    reason: str | None = None,
    agent_id: int | None = None,
    case_id: int | None = None,
    action: str = "set_status",
    at: datetime | None = None,
) -> Conversation:
    """Move a conversation to bot/handoff/agent (created if new) and audit the change.

    handoff records the reason, the case the handoff opened (case_id) and, the first time, the
    time; agent records who has it; bot clears the assignment and the handoff's case. The
    building block of the flows below. at: when it happened, if not now (a Rasa event read
    from the tracker store: its own time).
    """
    if status not in CONVERSATION_STATUSES:
        raise InvalidValue(f"status must be one of {', '.join(CONVERSATION_STATUSES)}.")
    conversation = conversations.get_or_create(session=session, conversation_id=conversation_id)
    before = audit.snapshot(conversation)
    if status == ConversationStatus.HANDOFF:
        if conversation.status != ConversationStatus.HANDOFF or conversation.handoff_at is None:
            conversation.handoff_at = at or utcnow()
        if reason:
            conversation.handoff_reason = reason
        if case_id is not None:
            conversation.handoff_case_id = case_id
    elif status == ConversationStatus.AGENT:
        if agent_id is not None:
            conversation.assigned_agent_id = agent_id
        if conversation.handoff_at is None:
            conversation.handoff_at = utcnow()
    else:
        conversation.assigned_agent_id = None
        conversation.handoff_case_id = None
        if conversation.status != ConversationStatus.BOT:
            conversation.bot_since = at or utcnow()
    conversation.status = status
    session.flush()
    audit.record_change(session=session, actor=actor, action=action,
                        entity=conversations.ENTITY, row=conversation, before=before)
    return conversation


def request_handoff(
    *,
    session: Session,
    conversation_id: str,
    actor: str,
    reason: str,
    transcript: str,
    channel: str | None = None,
) -> Case:
    """Open a handoff case (reason, transcript) and queue the conversation for a person."""
    conversation = conversations.get_or_create(
        session=session, conversation_id=conversation_id, channel=channel
    )
    case = cases.open_case(
        session=session,
        actor=actor,
        customer_id=conversation.customer_id,
        conversation_id=conversation_id,
        subject=f"Handoff: {reason}",
        description=transcript,
        type=CaseType.HANDOFF,
        unverified=conversation.customer_id is not None and conversation.verified_at is None,
    )
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.HANDOFF,
               reason=reason, case_id=case.id, actor=actor, action="handoff")
    return case


def _aware(moment: datetime) -> datetime:
    """A time the CRM stored (naive UTC on SQLite) as an aware one."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _before(at: datetime | None, moment: datetime | None) -> bool:
    """Whether a Rasa event's time is before a moment the CRM stored (naive UTC); False when
    either is unknown."""
    return at is not None and moment is not None and at < moment.replace(tzinfo=UTC)


def wait_for_person(
    *, session: Session, conversation_id: str, actor: str, reason: str | None = None,
    at: datetime | None = None,
) -> bool:
    """Queue the conversation for a person if the bot has it (not if a person has it already).

    For Rasa's pause events and for messages the bot never saw; True if the status changed.
    at: when Rasa paused it. A pause from before the bot last got the conversation back is an
    old one read late (the event path lags; a resolve hands back directly): it must not queue
    the conversation again.
    """
    conversation = conversations.get_or_create(session=session, conversation_id=conversation_id)
    if conversation.status != ConversationStatus.BOT:
        return False
    if _before(at, conversation.bot_since):
        log.info("%s: a pause from %s is older than its hand-back; ignored", conversation_id, at)
        return False
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.HANDOFF,
               reason=reason, actor=actor, action="handoff", at=at)
    return True


def _locked(*, session: Session, conversation_id: str, create: bool = True) -> Conversation:
    """The conversation as last committed, held until this transaction ends.

    A resolve and Rasa's resume event (the API's ingest) both move a conversation back to the
    bot, at nearly the same moment; two agents click "claim" on one conversation at once: each
    must see what the other did, or the customer is told twice (or three agents each think the
    conversation is theirs). A no-op UPDATE takes the row's lock on PostgreSQL (the database's
    write lock on SQLite) before the status is read again. create: make it if it is missing
    (else NotFound).
    """
    conversation = (conversations.get_or_create if create else conversations.get_or_raise)(
        session=session, conversation_id=conversation_id)
    session.execute(update(Conversation).where(Conversation.id == conversation_id)
                    .values(status=Conversation.status)
                    .execution_options(synchronize_session=False))
    session.refresh(conversation)
    return conversation


def back_to_bot(
    *, session: Session, conversation_id: str, actor: str, at: datetime | None = None
) -> bool:
    """The bot has the conversation again (Rasa resumed it); True if the status changed.

    at: when Rasa resumed it. A resume from before the conversation's latest handoff is an
    old one read late (the event path lags; the handoff action queues the customer directly):
    it must not take the new handoff away from the queue.
    """
    conversation = _locked(session=session, conversation_id=conversation_id)
    if conversation.status == ConversationStatus.BOT:
        return False
    if _before(at, conversation.handoff_at):
        log.info("%s: a resume from %s is older than its handoff; ignored", conversation_id, at)
        return False
    case_id = conversation.handoff_case_id
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.BOT,
               actor=actor, action="resume", at=at)
    # The handoff's case stays linked: this resume is usually an agent's resolve, read from
    # Rasa before the console's own hand_back commits, and hand_back closes the case by it.
    conversation.handoff_case_id = case_id
    notify(session=session, conversation=conversation,
           text=responses.text(BOT_IS_BACK, conversation.language))
    return True


def withdraw_handoff(*, session: Session, conversation_id: str, actor: str,
                     resumed_at: datetime) -> bool:
    """The customer no longer needs a person, and none has taken the conversation: close the
    handoff's case and give the conversation back to the bot (Rasa was told at resumed_at);
    True if so.

    Also True when Rasa's resume event was read first (back_to_bot: the bot has had it since
    resumed_at or later). False, and nothing changed, when a person has claimed it (they read
    the message and decide: claim takes the same row lock, so the two cannot both win) or the
    bot had it already.
    """
    conversation = _locked(session=session, conversation_id=conversation_id, create=False)
    since = conversation.bot_since
    read_first = (conversation.status == ConversationStatus.BOT and since is not None
                  and _aware(since) >= resumed_at - CLOCK_SKEW)
    if conversation.status != ConversationStatus.HANDOFF and not read_first:
        return False
    case = (cases.get(session=session, case_id=conversation.handoff_case_id)
            if conversation.handoff_case_id is not None else None)
    if case is not None and case.status in OPEN_CASE_STATUSES:
        cases.set_status(session=session, case_id=case.id, status=CaseStatus.CLOSED, actor=actor)
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.BOT,
               actor=actor, action="withdraw")
    return True


def notify(*, session: Session, conversation: Conversation, text: str) -> Interaction:
    """A notice from Relay to the customer, for their channel to deliver (not in a turn)."""
    return interactions.record(session=session, conversation_id=conversation.id,
                               direction=Direction.OUTBOUND, author=Author.SYSTEM, text=text,
                               channel=conversation.channel)


def notice_kind(text: str) -> str | None:
    """Which of the desk's notices a system message is ("agent-joined", "bot-back" or None),
    in whichever language it was said."""
    for language, back in responses.translations(BOT_IS_BACK).items():
        if text == back:
            return "bot-back"
        head, _, tail = responses.text(JOINED, language, name="\0").partition("\0")
        if text.startswith(head) and text.endswith(tail):
            return "agent-joined"
    return None


def first_name(session: Session, user_id: int) -> str:
    """How customers know an agent: the first name ("A person" if there is none)."""
    user = users.get(session=session, user_id=user_id)
    name = (user.name or "").strip() if user is not None else ""
    return name.split()[0] if name else "A person"


def claim(*, session: Session, conversation_id: str, agent_id: int, actor: str) -> Outcome:
    """Take a waiting conversation: status agent, assigned to agent_id (only one of several
    agents claiming at once gets it; the others are told it is taken)."""
    conversation = _locked(session=session, conversation_id=conversation_id, create=False)
    if conversation.status == ConversationStatus.BOT:
        return Outcome.NOT_WAITING
    if conversation.status == ConversationStatus.AGENT:
        if conversation.assigned_agent_id not in (None, agent_id):
            return Outcome.TAKEN
        if conversation.assigned_agent_id == agent_id:
            return Outcome.CLAIMED  # already mine: nothing changes, nothing to audit
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.AGENT,
               agent_id=agent_id, actor=actor, action="claim")
    notify(session=session, conversation=conversation,
           text=responses.text(JOINED, conversation.language,
                               name=first_name(session, agent_id)))
    return Outcome.CLAIMED


def transfer(
    *, session: Session, conversation_id: str, to_agent_id: int, to_agent_name: str,
    by_agent_name: str, actor: str,
) -> Outcome:
    """Give a handed-off conversation to another agent (the caller checked who they are).

    The customer is told who joined; the agents see an internal note of the move.
    """
    conversation = _locked(session=session, conversation_id=conversation_id, create=False)
    if conversation.status == ConversationStatus.BOT:
        return Outcome.NOT_WAITING
    if conversation.status == ConversationStatus.AGENT and \
            conversation.assigned_agent_id == to_agent_id:
        return Outcome.TRANSFERRED  # already theirs
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.AGENT,
               agent_id=to_agent_id, actor=actor, action="transfer")
    notify(session=session, conversation=conversation,
           text=responses.text(JOINED, conversation.language,
                               name=first_name(session, to_agent_id)))
    interactions.add_note(session=session, conversation_id=conversation_id,
                          text=f"Transferred to {to_agent_name} by {by_agent_name}.")
    return Outcome.TRANSFERRED


def reply(
    *, session: Session, conversation_id: str, agent_id: int, actor: str, text: str
) -> Outcome:
    """An agent's reply to the customer (claiming the conversation if nobody has).

    The reply is only logged here; the customer's channel delivers it from the table (the
    widget's stream, the Telegram bridge's delivery worker), whichever process wrote it.
    """
    conversation = _claimed(session=session, conversation_id=conversation_id,
                            agent_id=agent_id, actor=actor)
    if not isinstance(conversation, Conversation):
        return conversation
    interactions.record(session=session, conversation_id=conversation_id,
                        direction=Direction.OUTBOUND, author=Author.AGENT, text=text,
                        channel=conversation.channel, agent_id=agent_id)
    return Outcome.REPLIED


def _claimed(*, session: Session, conversation_id: str, agent_id: int,
             actor: str) -> Conversation | Outcome:
    """The conversation, claimed by this agent (if nobody had it) so they can send in it; the
    claim's outcome if they cannot."""
    outcome = claim(session=session, conversation_id=conversation_id, agent_id=agent_id,
                    actor=actor)
    if outcome != Outcome.CLAIMED:
        return outcome
    return conversations.get_or_raise(session=session, conversation_id=conversation_id)


def send_file(
    *, session: Session, conversation_id: str, agent_id: int, actor: str, data: bytes,
    filename: str | None, max_bytes: int, caption: str | None = None,
) -> Outcome:
    """An agent's file (image or PDF) for the customer, with an optional caption: claims the
    conversation if nobody has, like a reply, and is delivered like one. The file is checked
    first (attachments.FileRefused says why it is not taken), so a refused file claims
    nothing."""
    content_type, name, data = attachments.check(data=data, filename=filename,
                                                 max_bytes=max_bytes)
    conversation = _claimed(session=session, conversation_id=conversation_id,
                            agent_id=agent_id, actor=actor)
    if not isinstance(conversation, Conversation):
        return conversation
    attachments.send_by_agent(session=session, conversation_id=conversation_id,
                              channel=conversation.channel, agent_id=agent_id, data=data,
                              content_type=content_type, name=name, caption=caption)
    return Outcome.FILE_SENT


def note(*, session: Session, conversation_id: str, agent_id: int, text: str) -> Interaction:
    """An agent's internal note; never sent to the customer."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    return interactions.add_note(session=session, conversation_id=conversation_id, text=text,
                                 agent_id=agent_id)


def retry_delivery(*, session: Session, conversation_id: str, interaction_id: int,
                   actor: str) -> Outcome:
    """Put a message whose delivery failed back in the outbox (the customer unblocked the bot);
    NotFound if there is no such conversation."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    row = session.get(Interaction, interaction_id)
    if row is None or row.conversation_id != conversation_id or row.failed_at is None:
        return Outcome.NOT_FAILED
    before = audit.snapshot(row)
    interactions.retry_failed(session=session, interaction_id=interaction_id)
    session.refresh(row)
    audit.record_change(session=session, actor=actor, action="retry_delivery",
                        entity="interaction", row=row, before=before)
    return Outcome.RETRYING


def hand_back(
    *, session: Session, conversation_id: str, agent_id: int, agent_name: str, actor: str
) -> None:
    """Resolve the handoff's own case and give the conversation back to the bot (Rasa already
    told). The conversation's other cases (a problem reported earlier) stay as they are."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    conversation = _locked(session=session, conversation_id=conversation_id)
    told = conversation.status == ConversationStatus.BOT  # Rasa's resume event came first
    case = (cases.get(session=session, case_id=conversation.handoff_case_id)
            if conversation.handoff_case_id is not None else None)
    if case is not None and case.status in OPEN_CASE_STATUSES:
        cases.set_status(session=session, case_id=case.id, status=CaseStatus.RESOLVED,
                         actor=actor)
    set_status(session=session, conversation_id=conversation_id, status=ConversationStatus.BOT,
               actor=actor, action="resolve")
    if not told:
        notify(session=session, conversation=conversation,
               text=responses.text(BOT_IS_BACK, conversation.language))
    channel = channels.named(conversation.channel)
    if case is not None and channel is not None and channel.delivery == channels.Delivery.PUSH:
        # The widget asks for its rating itself; a pushing channel gets 1-5 buttons.
        interactions.record(session=session, conversation_id=conversation.id,
                            direction=Direction.OUTBOUND, author=Author.SYSTEM,
                            text=responses.text(RATE_SUPPORT, conversation.language),
                            channel=conversation.channel, buttons=ratings.score_buttons())
    interactions.add_note(session=session, conversation_id=conversation_id,
                          text=f"Resolved by {agent_name}; handed back to the assistant.",
                          agent_id=agent_id)


async def resolve(
    *,
    sessions: sessionmaker[Session],
    bot: BotControl,
    conversation_id: str,
    agent_id: int,
    agent_name: str,
    actor: str,
    override: bool = False,
) -> Outcome | None:
    """Hand a handed-off conversation back to the bot; None if there is no such conversation.

    A conversation another agent has claimed is theirs to resolve (TAKEN) unless `override`
    (an admin's), like claim and reply.
    """

    def current() -> tuple[str, int | None] | None:
        with sessions() as session:
            conversation = conversations.get(session=session, conversation_id=conversation_id)
            return (conversation.status, conversation.assigned_agent_id) if conversation else None

    found = await asyncio.to_thread(current)
    if found is None:
        return None
    status, assigned = found
    if status == ConversationStatus.BOT:
        return Outcome.NOT_WAITING
    if status == ConversationStatus.AGENT and assigned not in (None, agent_id) and not override:
        return Outcome.TAKEN
    try:
        await bot.resume(conversation_id=conversation_id)
    except BotUnavailable as error:
        log.warning("resolve %s: %s", conversation_id, error)
        return Outcome.BOT_UNAVAILABLE

    def finish() -> None:
        with sessions.begin() as session:
            hand_back(session=session, conversation_id=conversation_id, agent_id=agent_id,
                      agent_name=agent_name, actor=actor)

    await asyncio.to_thread(finish)
    return Outcome.RESOLVED


RECONCILER = audit.service_actor("reconciler")
PAUSED_BY_RASA = "the assistant had stopped answering this conversation"
RECONCILE_GRACE_SECONDS = 30.0  # longer than a turn, a resolve or a handoff take to settle
RECONCILE_EVERY_SECONDS = 15.0
RECENT = timedelta(days=2)  # bot conversations checked for a pause the CRM never heard of


def status_mismatches(*, session: Session) -> dict[str, str]:
    """Conversations whose CRM status and Rasa's pause state disagree: id -> what to do.

    "pause": a person has it (handoff/agent) but Rasa answers it; "queue": Rasa has paused it
    but the CRM says the bot has it (recently active conversations only).
    """
    people = [c.id for c in conversations.list_handoffs(session=session, limit=10_000)]
    since = utcnow() - RECENT
    bots = list(session.scalars(select(Conversation.id).where(
        Conversation.status == ConversationStatus.BOT, Conversation.last_message_at >= since)))
    paused = tracker.rasa_paused(session=session, conversation_ids=people + bots)
    found = {cid: "pause" for cid in people if not paused.get(cid, False)}
    found.update({cid: "queue" for cid in bots if paused.get(cid, False)})
    return found


class Reconciler:
    """Settles the CRM's handoff status and Rasa's pause state where they keep disagreeing.

    A disagreement is acted on only when it was seen in checks at least
    RECONCILE_GRACE_SECONDS apart: a handoff or a resolve disagrees for the moment it takes.
    """

    def __init__(self, *, sessions: sessionmaker[Session], bot: BotControl,
                 grace_seconds: float = RECONCILE_GRACE_SECONDS,
                 every_seconds: float = RECONCILE_EVERY_SECONDS) -> None:
        self.sessions = sessions
        self.bot = bot
        self.grace_seconds = grace_seconds
        self.every_seconds = every_seconds
        self.first_seen: dict[tuple[str, str], float] = {}

    def _mismatches(self) -> dict[str, str]:
        with self.sessions() as session:
            return status_mismatches(session=session)

    def _queue(self, conversation_id: str) -> None:
        with self.sessions.begin() as session:
            wait_for_person(session=session, conversation_id=conversation_id,
                            reason=PAUSED_BY_RASA, actor=RECONCILER)

    async def reconcile_once(self) -> list[tuple[str, str]]:
        """Check once; act on the disagreements that lasted; (conversation, action) done."""
        now = time.monotonic()
        found = await asyncio.to_thread(self._mismatches)
        self.first_seen = {key: seen for key, seen in self.first_seen.items()
                           if found.get(key[0]) == key[1]}
        done = []
        for conversation_id, action in found.items():
            seen = self.first_seen.setdefault((conversation_id, action), now)
            if now - seen < self.grace_seconds:
                continue
            if action == "pause":
                try:
                    await self.bot.pause(conversation_id=conversation_id)
                except BotUnavailable as error:
                    log.warning("reconcile %s: %s", conversation_id, error)
                    continue
                log.warning("reconciled %s: a person has it, so Rasa is paused", conversation_id)
            else:
                await asyncio.to_thread(self._queue, conversation_id)
                log.warning("reconciled %s: Rasa had paused it, so it waits for a person",
                            conversation_id)
            del self.first_seen[(conversation_id, action)]
            done.append((conversation_id, action))
        return done

    async def run(self) -> None:
        """Forever: reconcile, then wait."""
        while True:
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling handoff status with Rasa failed")
            await asyncio.sleep(self.every_seconds)
