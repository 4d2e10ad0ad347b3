"""Pydantic v2 schemas of the CRM API: inputs list their fields and forbid extras."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from crm_store import plain_text
from crm_store.customers import normalise_email, normalise_phone
from crm_store.enums import (
    CasePriority,
    CaseStatus,
    CaseType,
    CustomerType,
    LeadStage,
)
from crm_store.errors import InvalidValue
from relay import languages
from relay.channels import ChannelName

MAX_PAGE = 100
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL
MAX_OFFSET = 10**9

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _language(value: str) -> str:
    if not languages.supported(value):
        raise ValueError(f"must be one of {', '.join(languages.CODES)}")
    return value


# A language Relay speaks (relay.languages): an ISO 639-1 code.
LanguageCode = Annotated[str, Field(json_schema_extra={"enum": list(languages.CODES)}),
                         AfterValidator(_language)]


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error, strings are stripped and may not
    hold control characters (crm_store.plain_text: PostgreSQL refuses NUL outright)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _plain(cls, value: object) -> object:
        for text in value if isinstance(value, list | tuple | set) else (value,):
            if isinstance(text, str):
                plain_text.refuse_unwanted(text)
        return value


class Output(BaseModel):
    """Base of responses, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


# --- auth ---------------------------------------------------------------------------------


class LoginIn(Input):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    role: str


class PrincipalOut(BaseModel):
    kind: str
    name: str
    role: str
    user_id: int | None


# --- customers ----------------------------------------------------------------------------


def _email(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return normalise_email(value)
    except InvalidValue as error:  # its sentence quotes the value; an API error never does
        raise ValueError(_unquoted(error, value)) from None


def _phone(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return normalise_phone(value)
    except InvalidValue as error:
        raise ValueError(_unquoted(error, value)) from None


def _unquoted(error: InvalidValue, value: str) -> str:
    """The sentence of a refused value without the value ("'x' is not …" → "is not …")."""
    return str(error).replace(f"'{value.strip()}' ", "", 1)


class CustomerCreate(Input):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=2000)
    type: CustomerType = CustomerType.CUSTOMER
    contact_consent: bool = False
    external_id: str | None = Field(default=None, max_length=200)
    language: LanguageCode | None = None

    _check_email = field_validator("email")(_email)
    _check_phone = field_validator("phone")(_phone)


class CustomerUpdate(Input):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    company: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=2000)
    type: CustomerType | None = None
    contact_consent: bool | None = None
    external_id: str | None = Field(default=None, max_length=200)
    language: LanguageCode | None = None

    _check_email = field_validator("email")(_email)
    _check_phone = field_validator("phone")(_phone)


class IdentityOut(Output):
    channel: str
    external_id: str
    verified_at: datetime | None


class CustomerOut(Output):
    id: int
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    address: str | None
    type: str
    contact_consent: bool
    external_id: str | None
    language: str | None = None
    created_at: datetime
    updated_at: datetime
    identities: list[IdentityOut] = []


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    total: int
    limit: int
    offset: int


class InteractionOut(Output):
    id: int
    conversation_id: str
    customer_id: int | None
    channel: str
    direction: str
    author: str
    text: str
    intent: str | None
    confidence: float | None
    faq_entry_id: str | None
    agent_id: int | None
    note: bool
    created_at: datetime


# --- conversations ------------------------------------------------------------------------

class ConversationOut(Output):
    id: str
    channel: str
    customer_id: int | None
    status: str
    assigned_agent_id: int | None
    handoff_reason: str | None
    handoff_at: datetime | None
    handoff_case_id: int | None
    language: str | None = None
    created_at: datetime
    last_message_at: datetime | None
    verified_at: datetime | None
    verified_by: str | None


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    total: int
    limit: int
    offset: int


class ConversationDetailOut(ConversationOut):
    interactions: list[InteractionOut]


class LinkCustomerIn(Input):
    customer_id: Id


# --- leads --------------------------------------------------------------------------------


class LeadCreate(Input):
    customer_id: Id
    interest: str | None = Field(default=None, max_length=2000)
    company_size: str | None = Field(default=None, max_length=50)
    budget: str | None = Field(default=None, max_length=100)
    timeline: str | None = Field(default=None, max_length=100)
    source_channel: ChannelName | None = None
    expected_value: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    owner_id: Id | None = None


class LeadStageMove(Input):
    stage: LeadStage
    lost_reason: str | None = Field(default=None, max_length=2000)


class LeadStageChangeOut(Output):
    from_stage: str | None
    to_stage: str
    changed_by: str
    changed_at: datetime


class LeadOut(Output):
    id: int
    customer_id: Id
    interest: str | None
    company_size: str | None
    budget: str | None
    timeline: str | None
    source_channel: str | None
    stage: str
    lost_reason: str | None
    expected_value: Decimal | None
    owner_id: int | None
    unverified: bool
    created_at: datetime
    updated_at: datetime
    history: list[LeadStageChangeOut] = []


class LeadPage(BaseModel):
    items: list[LeadOut]
    total: int
    limit: int
    offset: int


class PipelineStageOut(BaseModel):
    stage: str
    count: int
    expected_value: Decimal


# --- cases --------------------------------------------------------------------------------


class CaseCreate(Input):
    subject: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=20000)
    type: CaseType = CaseType.QUESTION
    priority: CasePriority = CasePriority.NORMAL
    customer_id: Id | None = None
    conversation_id: str | None = Field(default=None, max_length=200)


class CaseUpdate(Input):
    status: CaseStatus | None = None
    priority: CasePriority | None = None


class CaseOut(Output):
    id: int
    customer_id: int | None
    conversation_id: str | None
    subject: str
    description: str
    type: str
    priority: str
    status: str
    unverified: bool
    created_at: datetime
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int


# --- audit & CSV --------------------------------------------------------------------------


class AuditOut(Output):
    id: int
    actor: str
    action: str
    entity: str
    entity_id: str | None
    before: dict[str, object] | None
    after: dict[str, object] | None
    at: datetime


class CsvRowOut(BaseModel):
    line: int
    status: Literal["created", "merged", "rejected"]
    customer_id: int | None
    email: str | None
    reason: str | None


class CsvImportOut(BaseModel):
    created: int
    merged: int
    rejected: int
    rows: list[CsvRowOut]
