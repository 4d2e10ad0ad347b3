"""Customers and their channel identities."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm_store import audit
from crm_store.enums import CustomerType
from crm_store.errors import DuplicateEmailError, InvalidValue, NotFoundError
from crm_store.models import CUSTOMER_TYPES, ChannelIdentity, Customer, CustomerSegment, utcnow
from relay import channels, languages

ENTITY = "customer"  # in the audit log
_INTERNAL_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)*")
UPDATABLE_FIELDS = ("name", "email", "phone", "company", "address", "type", "contact_consent",
                    "external_id", "language")
_TYPE_RANK: dict[str, int] = {t: i for i, t in enumerate(CUSTOMER_TYPES)}


def normalise_email(value: str, *, internal: bool = False) -> str:
    """The lower-cased, syntax-checked form of an email address; ValueError with a sentence.

    internal=True also accepts special-use domains such as agent@relay.local (staff logins).
    """
    candidate = value.strip()
    if not candidate:
        raise InvalidValue("The email address is empty.")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        if internal and _INTERNAL_EMAIL.fullmatch(candidate):
            return candidate.lower()
        raise InvalidValue(f"'{candidate}' is not a valid email address: {exc}") from None
    if len(result.ascii_domain.rsplit(".", 1)[-1]) < 2:  # no top-level domain has one letter
        raise InvalidValue(f"'{candidate}' is not a valid email address: the part after the "
                           "last period is a single letter. Please check the ending.")
    return result.normalized.lower()


def normalise_phone(value: str, *, default_region: str | None = None) -> str:
    """The E.164 form of a phone number; ValueError with a sentence if it is not a real number."""
    candidate = value.strip()
    if not candidate:
        raise InvalidValue("The phone number is empty.")
    try:
        parsed = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException:
        hint = "" if candidate.startswith("+") else " (start with + and the country code)"
        raise InvalidValue(f"'{candidate}' is not a phone number{hint}.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue(f"'{candidate}' is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Normalised copies of the given customer fields; ValueError on bad values."""
    cleaned = dict(fields)
    for key in ("name", "company", "address", "external_id"):
        if isinstance(cleaned.get(key), str):
            cleaned[key] = cleaned[key].strip() or None
    if cleaned.get("email") is not None:
        cleaned["email"] = normalise_email(cleaned["email"])
    if cleaned.get("phone") is not None:
        cleaned["phone"] = normalise_phone(cleaned["phone"]) if cleaned["phone"].strip() else None
    if "type" in cleaned and cleaned["type"] not in CUSTOMER_TYPES:
        raise InvalidValue(f"type must be one of {', '.join(CUSTOMER_TYPES)}.")
    if cleaned.get("language") is not None and not languages.supported(cleaned["language"]):
        raise InvalidValue(f"language must be one of {', '.join(languages.CODES)}.")
    return cleaned


def create(
    *,
    session: Session,
    actor: str,
    audit_action: str = "create",
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    address: str | None = None,
    type: str = CustomerType.VISITOR,
    contact_consent: bool = False,
    external_id: str | None = None,
    language: str | None = None,
) -> Customer:
    """A new customer, audited as audit_action by actor; DuplicateEmailError if the email is
    already taken."""
    fields = _clean(
        {
            "name": name,
            "email": email,
            "phone": phone,
            "company": company,
            "address": address,
            "type": type,
            "contact_consent": contact_consent,
            "external_id": external_id,
            "language": language,
        }
    )
    if fields["email"] is not None:
        existing = get_by_email(session=session, email=fields["email"])
        if existing is not None:
            raise DuplicateEmailError(fields["email"], existing.id)
    customer = Customer(**fields)
    session.add(customer)
    session.flush()
    audit.record_change(session=session, actor=actor, action=audit_action, entity=ENTITY,
                        row=customer)
    return customer


def get(*, session: Session, customer_id: int) -> Customer | None:
    """The customer with that id, or None."""
    return session.get(Customer, customer_id)


def get_or_raise(*, session: Session, customer_id: int) -> Customer:
    """The customer with that id; NotFoundError otherwise."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("Customer", customer_id)
    return customer


def get_by_email(*, session: Session, email: str) -> Customer | None:
    """The customer with that email (compared normalised), or None."""
    try:
        normalised = normalise_email(email)
    except ValueError:
        return None
    return session.scalars(select(Customer).where(Customer.email == normalised)).first()


def find_or_create_by_email(
    *, session: Session, email: str, actor: str, **fields: Any
) -> Customer:
    """The customer with that email, created if missing; empty fields are filled from fields."""
    normalised = normalise_email(email)
    customer = get_by_email(session=session, email=normalised)
    if customer is None:
        return create(session=session, actor=actor, email=normalised, **fields)
    blanks = {
        k: v for k, v in fields.items() if v is not None and getattr(customer, k) in (None, "")
    }
    if blanks:
        update(session=session, customer_id=customer.id, actor=actor, **blanks)
    if fields.get("contact_consent"):
        customer.contact_consent = True
    if "type" in fields:
        promote(session=session, customer_id=customer.id, to_type=fields["type"])
    return customer


def update(
    *, session: Session, customer_id: int, actor: str, **changes: Any
) -> Customer:
    """Apply changes (a subset of UPDATABLE_FIELDS) to a customer, audited; InvalidValue on bad
    values."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise InvalidValue(f"Customers have no field(s) {', '.join(sorted(unknown))}.")
    customer = get_or_raise(session=session, customer_id=customer_id)
    before = audit.snapshot(customer)
    cleaned = _clean(changes)
    new_email = cleaned.get("email")
    if new_email is not None and new_email != customer.email:
        existing = get_by_email(session=session, email=new_email)
        if existing is not None and existing.id != customer.id:
            raise DuplicateEmailError(new_email, existing.id)
    for key, value in cleaned.items():
        setattr(customer, key, value)
    session.flush()
    audit.record_change(session=session, actor=actor, action="update", entity=ENTITY,
                        row=customer, before=before)
    return customer


def promote(*, session: Session, customer_id: int, to_type: str) -> Customer:
    """Raise a customer's type (visitor < lead < customer); never demotes."""
    customer = get_or_raise(session=session, customer_id=customer_id)
    if to_type not in _TYPE_RANK:
        raise InvalidValue(f"type must be one of {', '.join(CUSTOMER_TYPES)}.")
    if _TYPE_RANK[to_type] > _TYPE_RANK.get(customer.type, 0):
        customer.type = to_type
        session.flush()
    return customer


def search(
    *,
    session: Session,
    query: str | None = None,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    company: str | None = None,
    type: str | None = None,
    segment: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Customer], int]:
    """Customers matching all given filters (case-insensitive substrings), newest first; total.

    The filters are plain text: "%" and "_" match themselves, not any characters.

    segment: only customers in that loyalty segment (crm_store.segments).
    """
    conditions = []
    if query:
        like = _contains(query.strip().lower())
        conditions.append(
            or_(
                func.lower(Customer.name).like(like, escape="\\"),
                func.lower(Customer.email).like(like, escape="\\"),
                Customer.phone.like(_contains(query.strip()), escape="\\"),
                func.lower(Customer.company).like(like, escape="\\"),
            )
        )
    for column, value in (
        (Customer.name, name),
        (Customer.email, email),
        (Customer.company, company),
    ):
        if value:
            conditions.append(func.lower(column).like(_contains(value.strip().lower()),
                                                      escape="\\"))
    if phone:
        digits = "".join(ch for ch in phone if ch.isdigit())
        conditions.append(Customer.phone.like(f"%{digits}%"))
    if type:
        conditions.append(Customer.type == type)
    if segment:
        conditions.append(
            Customer.id.in_(
                select(CustomerSegment.customer_id).where(CustomerSegment.segment == segment)
            )
        )
    total = session.scalar(select(func.count()).select_from(Customer).where(*conditions)) or 0
    rows = session.scalars(
        select(Customer).where(*conditions).order_by(Customer.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), total


def _contains(text: str) -> str:
    """A LIKE pattern (escape character backslash) matching text anywhere, literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def attach_identity(
    *, session: Session, customer_id: int, channel: str, external_id: str, verified: bool = False
) -> ChannelIdentity:
    """Record that customer_id is external_id on channel (an identity moves to the latest).

    `verified`: the customer proved it (crm_store.verification); an identity that moves to
    another customer without proof loses its verification.
    """
    channels.get(channel)  # ValueError naming the channels
    get_or_raise(session=session, customer_id=customer_id)
    identity = session.scalars(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == str(external_id)
        )
    ).first()
    if identity is None:
        identity = ChannelIdentity(
            customer_id=customer_id, channel=channel, external_id=str(external_id)
        )
        session.add(identity)
    elif identity.customer_id != customer_id:
        identity.customer_id = customer_id
        identity.verified_at = None
    if verified:
        identity.verified_at = utcnow()
    session.flush()
    return identity


def find_by_identity(*, session: Session, channel: str, external_id: str) -> Customer | None:
    """The customer known as external_id on channel, or None."""
    return session.scalars(
        select(Customer)
        .join(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == str(external_id))
    ).first()
