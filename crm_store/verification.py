"""Who a conversation's customer really is: one-time codes by email, the website's signed identity.

Typing an email proves nothing, so a conversation knows its customer in one of two ways:

* **claimed** (Conversation.customer_id alone): the customer typed an email. Enough to open a
  lead or a case, which are then marked `unverified`; never enough to see or change a record.
* **verified** (Conversation.verified_at): the customer typed the code mailed to that address
  (issue_code / check_code), or the company's website vouched for them with an HMAC of their
  id (verify_website_user). A personal channel's identity (a widget session, a Telegram chat)
  is then attached as verified, so the chat stays verified.

Codes: 6 digits, kept as an HMAC keyed with the server's secret (a leaked table is useless),
valid CODE_TTL, MAX_ATTEMPTS tries each, a new one no sooner than RESEND_AFTER, and at most
CODES_PER_EMAIL per address per hour (whichever conversations ask). A code is issued for every
address asked about, known or not: nothing is mailed for an unknown one, but the conversation
goes exactly the same way, so nobody learns which addresses have an account. Every step is in
the audit log (entity "conversation"); codes never are.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_store import audit, conversations, customers
from crm_store.errors import InvalidValue
from crm_store.models import ChannelIdentity, Customer, VerificationCode, utcnow
from relay import channels

CODE_DIGITS = 6
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
RESEND_AFTER = timedelta(seconds=30)
CODES_PER_EMAIL = 5  # per hour
EMAIL_CODE, WEBSITE = "email-code", "website"  # Conversation.verified_by


class Issued(StrEnum):
    """What became of a request for a code."""

    SENT = "sent"  # a new code (mailed if the address has an account)
    WAIT = "wait"  # the last one is too recent: wait `wait_seconds`
    LIMIT = "limit"  # this address had CODES_PER_EMAIL codes in the last hour


class Checked(StrEnum):
    """What a typed code turned out to be."""

    OK = "ok"  # verified
    WRONG = "wrong"  # not it; `tries_left` more
    LOCKED = "locked"  # tried MAX_ATTEMPTS times: only a new code helps
    EXPIRED = "expired"  # older than CODE_TTL
    NONE = "none"  # no code was issued to this conversation


@dataclass(frozen=True)
class IssueResult:
    """The outcome, and what to mail: `code` is None when nothing is to be sent."""

    outcome: Issued
    email: str
    code: str | None = None
    wait_seconds: int = 0


@dataclass(frozen=True)
class CheckResult:
    """The outcome; the verified customer's id when OK."""

    outcome: Checked
    tries_left: int = 0
    customer_id: int | None = None


def _code_hash(secret: str, conversation_id: str, email: str, code: str) -> str:
    message = f"{conversation_id}\n{email}\n{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _latest(session: Session, conversation_id: str) -> VerificationCode | None:
    return session.scalars(
        select(VerificationCode).where(VerificationCode.conversation_id == conversation_id)
        .order_by(VerificationCode.id.desc())
    ).first()


def _log(session: Session, actor: str, action: str, conversation_id: str, **details: object
         ) -> None:
    audit.record(session=session, actor=actor, action=action, entity=conversations.ENTITY,
                 entity_id=conversation_id, after=dict(details))


def issue_code(
    *, session: Session, secret: str, conversation_id: str, email: str, actor: str,
    resend: bool = False, now: datetime | None = None,
) -> IssueResult:
    """A new code for this conversation and address (earlier ones stop working).

    With `resend`, refused while the conversation's last code is younger than RESEND_AFTER.
    InvalidValue if the address is not an email address.
    """
    now = now or utcnow()
    address = customers.normalise_email(email)
    latest = _latest(session, conversation_id)
    if resend and latest is not None and now - latest.created_at < RESEND_AFTER:
        wait = math.ceil((latest.created_at + RESEND_AFTER - now).total_seconds())
        _log(session, actor, "code_wait", conversation_id, email=address)
        return IssueResult(Issued.WAIT, address, wait_seconds=max(wait, 1))
    recent = session.scalar(
        select(func.count()).select_from(VerificationCode).where(
            VerificationCode.email == address,
            VerificationCode.created_at > now - timedelta(hours=1))
    ) or 0
    if recent >= CODES_PER_EMAIL:
        _log(session, actor, "code_limit", conversation_id, email=address)
        return IssueResult(Issued.LIMIT, address)
    session.execute(
        update(VerificationCode)
        .where(VerificationCode.conversation_id == conversation_id,
               VerificationCode.used_at.is_(None))
        .values(used_at=now)
    )
    customer = customers.get_by_email(session=session, email=address)
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(VerificationCode(
        conversation_id=conversation_id, email=address,
        customer_id=customer.id if customer is not None else None,
        code_hash=_code_hash(secret, conversation_id, address, code), attempts=0,
        created_at=now, expires_at=now + CODE_TTL))
    session.flush()
    _log(session, actor, "code_resent" if resend else "code_sent", conversation_id,
         email=address, mailed=customer is not None)
    return IssueResult(Issued.SENT, address, code=code if customer is not None else None)


def check_code(
    *, session: Session, secret: str, conversation_id: str, code: str, actor: str,
    channel: str | None = None, now: datetime | None = None,
) -> CheckResult:
    """Check a typed code (digits only) against the conversation's live code; audited.

    A match verifies the conversation for the code's customer (mark_verified).
    """
    now = now or utcnow()
    latest = _latest(session, conversation_id)
    if latest is None or (latest.used_at is not None and latest.attempts < MAX_ATTEMPTS):
        _log(session, actor, "code_none", conversation_id)
        return CheckResult(Checked.NONE)
    if latest.attempts >= MAX_ATTEMPTS:
        _log(session, actor, "code_locked", conversation_id, email=latest.email)
        return CheckResult(Checked.LOCKED)
    if latest.expires_at <= now:
        _log(session, actor, "code_expired", conversation_id, email=latest.email)
        return CheckResult(Checked.EXPIRED)
    latest.attempts += 1
    expected = _code_hash(secret, conversation_id, latest.email, code)
    matches = hmac.compare_digest(expected, latest.code_hash)
    if not matches or latest.customer_id is None:
        left = MAX_ATTEMPTS - latest.attempts
        if left == 0:
            latest.used_at = now
        session.flush()
        _log(session, actor, "code_wrong", conversation_id, email=latest.email, tries_left=left)
        return CheckResult(Checked.WRONG if left else Checked.LOCKED, tries_left=left)
    latest.used_at = now
    session.flush()
    _log(session, actor, "code_ok", conversation_id, email=latest.email)
    mark_verified(session=session, conversation_id=conversation_id,
                  customer_id=latest.customer_id, method=EMAIL_CODE, actor=actor,
                  channel=channel, now=now)
    return CheckResult(Checked.OK, customer_id=latest.customer_id)


def mark_verified(
    *, session: Session, conversation_id: str, customer_id: int, method: str, actor: str,
    channel: str | None = None, now: datetime | None = None,
) -> None:
    """The conversation's customer is verified: linked, marked, and its personal channel's
    identity attached as verified; audited."""
    now = now or utcnow()
    conversation = conversations.get_or_create(session=session, conversation_id=conversation_id,
                                               channel=channel)
    conversations.link_customer(session=session, conversation_id=conversation_id,
                                customer_id=customer_id, actor=actor)
    conversation.verified_at, conversation.verified_by = now, method
    own = channels.of_conversation(conversation_id)
    if own.personal:
        customers.attach_identity(session=session, customer_id=customer_id, channel=own.name,
                                  external_id=own.external_id(conversation_id), verified=True)
    session.flush()
    _log(session, actor, "verify", conversation_id, customer_id=customer_id, method=method)


def verified_customer_id(*, session: Session, conversation_id: str) -> int | None:
    """The customer this conversation is verified as, or None (claimed is not verified)."""
    conversation = conversations.get(session=session, conversation_id=conversation_id)
    if (conversation is not None and conversation.verified_at is not None
            and conversation.customer_id is not None):
        return conversation.customer_id
    own = channels.of_conversation(conversation_id)
    if not own.personal:
        return None
    return session.scalar(select(ChannelIdentity.customer_id).where(
        ChannelIdentity.channel == own.name,
        ChannelIdentity.external_id == own.external_id(conversation_id),
        ChannelIdentity.verified_at.is_not(None)))


# --- the website's identity verification (Intercom / Chatwoot style) ------------------------


def identity_hash(secret: str, user_id: str) -> str:
    """HMAC-SHA256 of the website's user id with the identity secret, hex: what the company's
    backend puts in the page as `user_hash` (see SECURITY.md for the snippet)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def identity_hash_ok(secret: str, user_id: str, user_hash: str) -> bool:
    """Whether user_hash is the HMAC of user_id (compared in constant time); never without a
    secret."""
    if not secret:
        return False
    return hmac.compare_digest(identity_hash(secret, user_id), user_hash.strip().lower())


def verify_website_user(
    *, session: Session, conversation_id: str, external_id: str, actor: str,
    email: str | None = None, name: str | None = None,
) -> Customer:
    """Verify the conversation as the website's signed-in user (call after identity_hash_ok).

    The customer is found by external_id, or created with it. Only the id is signed, so the
    email and name are used for a new record only, and an email that belongs to another record
    is not taken over (that record keeps it). InvalidValue if the conversation was already
    verified as someone else.
    """
    customer = session.scalars(select(Customer).where(Customer.external_id == external_id)
                               ).first()
    if customer is None:
        free_email = None
        if email:
            try:
                normalised = customers.normalise_email(email)
            except InvalidValue:
                normalised = None
            if normalised and customers.get_by_email(session=session, email=normalised) is None:
                free_email = normalised
        customer = customers.create(session=session, actor=actor, email=free_email,
                                    name=(name or "").strip()[:200] or None,
                                    external_id=external_id)
    current = verified_customer_id(session=session, conversation_id=conversation_id)
    if current is not None and current != customer.id:
        raise InvalidValue("This conversation is verified as another customer; start a new "
                           "conversation for this one.")
    mark_verified(session=session, conversation_id=conversation_id, customer_id=customer.id,
                  method=WEBSITE, actor=actor)
    return customer
