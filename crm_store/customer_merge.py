"""Merging two customer records that are one person (say, their web and Telegram identities).

The one place that knows every table referring to a customer: identities, conversations,
interactions, leads and cases move to the record kept; the other record's contact details fill
the kept one's empty fields; its loyalty segment is dropped (the next segments run recomputes
it); then it is deleted. Both the update and the deletion are audited with the caller as actor.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from crm_store import audit, customers
from crm_store.customers import ENTITY
from crm_store.errors import InvalidValue
from crm_store.models import (
    OPEN_LEAD_STAGES,
    Attachment,
    Case,
    ChannelIdentity,
    Conversation,
    Customer,
    CustomerSegment,
    Interaction,
    Lead,
)

FILLED_FIELDS = ("name", "email", "phone", "company", "address")
TYPE_RANK = {"visitor": 0, "lead": 1, "customer": 2}


def merge(*, session: Session, keep_id: int, merge_id: int, actor: str) -> Customer:
    """Fold customer merge_id into keep_id and delete it; InvalidValue if they are the same or
    both have an open lead (close one first: a customer has at most one)."""
    if keep_id == merge_id:
        raise InvalidValue("A customer cannot be merged into itself.")
    keep = customers.get_or_raise(session=session, customer_id=keep_id)
    other = customers.get_or_raise(session=session, customer_id=merge_id)
    open_leads = session.scalars(select(Lead.customer_id).where(
        Lead.customer_id.in_((keep_id, merge_id)), Lead.stage.in_(OPEN_LEAD_STAGES))).all()
    if {keep_id, merge_id} <= set(open_leads):
        raise InvalidValue("Both customers have an open lead; close one of them first.")
    before_keep, before_other = audit.snapshot(keep), audit.snapshot(other)
    fills = {field: getattr(other, field) for field in FILLED_FIELDS
             if not getattr(keep, field) and getattr(other, field)}
    # The other record's email is unique: free it before the kept record takes it.
    other.email = None
    session.flush()
    for model in (ChannelIdentity, Conversation, Interaction, Attachment, Lead, Case):
        session.execute(update(model).where(model.customer_id == merge_id)
                        .values(customer_id=keep_id).execution_options(synchronize_session=False))
    session.execute(delete(CustomerSegment).where(CustomerSegment.customer_id == merge_id))
    for field, value in fills.items():
        setattr(keep, field, value)
    if TYPE_RANK.get(other.type, 0) > TYPE_RANK.get(keep.type, 0):
        keep.type = other.type
    keep.contact_consent = keep.contact_consent or other.contact_consent
    # Both records' identity lists are stale after the bulk update; deleting the other with its
    # old list loaded would cascade to the identities that just moved.
    session.expire(keep, ["identities"])
    session.expire(other, ["identities"])
    session.delete(other)
    session.flush()
    audit.record_change(session=session, actor=actor, action="merge", entity=ENTITY, row=keep,
                        before=before_keep)
    audit.record(session=session, actor=actor, action="merged_into", entity=ENTITY,
                 entity_id=merge_id, before=before_other, after={"merged_into": keep_id})
    return keep
