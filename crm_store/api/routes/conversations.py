"""Conversations: list, read with their messages, link to a customer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crm_store import conversations, interactions
from crm_store.api.deps import CurrentPrincipal, SessionDep, WriterPrincipal
from crm_store.enums import ConversationStatus
from crm_store.schemas import (
    MAX_ID,
    MAX_OFFSET,
    MAX_PAGE,
    ConversationDetailOut,
    ConversationOut,
    ConversationPage,
    InteractionOut,
    LinkCustomerIn,
)

router = APIRouter(prefix="/conversations", tags=["conversations"])


@router.get("", response_model=ConversationPage)
def list_conversations(
    session: SessionDep,
    _: CurrentPrincipal,
    status: ConversationStatus | None = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> ConversationPage:
    """Conversations, most recently active first."""
    rows, total = conversations.list_conversations(
        session=session, status=status, customer_id=customer_id, limit=limit, offset=offset
    )
    return ConversationPage(
        items=[ConversationOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{conversation_id}", response_model=ConversationDetailOut)
def get_conversation(
    conversation_id: str, session: SessionDep, _: CurrentPrincipal
) -> ConversationDetailOut:
    """One conversation with all its messages and notes, in order."""
    conversation = conversations.get_or_raise(session=session, conversation_id=conversation_id)
    rows = interactions.list_for_conversation(session=session, conversation_id=conversation_id)
    return ConversationDetailOut(
        **ConversationOut.model_validate(conversation).model_dump(),
        interactions=[InteractionOut.model_validate(r) for r in rows],
    )


@router.put("/{conversation_id}/customer", response_model=ConversationOut)
def link_customer(
    conversation_id: str, body: LinkCustomerIn, session: SessionDep, principal: WriterPrincipal
) -> ConversationOut:
    """Tie a conversation (and its earlier messages) to a customer."""
    conversations.get_or_raise(session=session, conversation_id=conversation_id)
    conversation = conversations.link_customer(
        session=session,
        conversation_id=conversation_id,
        customer_id=body.customer_id,
        actor=principal.actor,
    )
    return ConversationOut.model_validate(conversation)
