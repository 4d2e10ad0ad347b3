"""Merging two customer records of one person, on real SQLite: everything that referred to the
merged record follows it, empty fields are filled, nothing is lost, both sides are audited."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_store import (
    audit,
    cases,
    conversations,
    customer_merge,
    customers,
    interactions,
    leads,
)
from crm_store.errors import InvalidValue


def two_records(sessions: sessionmaker[Session]) -> tuple[int, int, str, str]:
    """The web record (email, no phone) and the Telegram one (phone, a lead and a case)."""
    web_cid, tg_cid = f"web-{uuid.uuid4().hex}", f"tg-{uuid.uuid4().int % 10**9}"
    with sessions.begin() as session:
        web = customers.create(session=session, actor="test", name="Dana Ruiz",
                               email=f"dana-{web_cid[-6:]}@example.com", type="lead")
        tg = customers.create(session=session, actor="test", name="Dana R.",
                              phone="+442079460958", company="Acme", type="customer",
                              contact_consent=True)
        customers.attach_identity(session=session, customer_id=tg.id, channel="telegram",
                                  external_id=tg_cid.removeprefix("tg-"))
        for cid, customer_id in ((web_cid, web.id), (tg_cid, tg.id)):
            interactions.record(session=session, conversation_id=cid, direction="inbound",
                                author="customer", text="hi", customer_id=customer_id)
            conversations.link_customer(session=session, actor="test", conversation_id=cid,
                                        customer_id=customer_id)
        leads.open_or_update_lead(session=session, customer_id=tg.id, changed_by="test",
                                  interest="Teams")
        cases.open_case(session=session, actor="test", subject="Sync", customer_id=tg.id)
        return web.id, tg.id, web_cid, tg_cid


def test_merge_moves_everything_and_fills_gaps(sessions: sessionmaker[Session]) -> None:
    web_id, tg_id, web_cid, tg_cid = two_records(sessions)
    with sessions.begin() as session:
        customer_merge.merge(session=session, keep_id=web_id, merge_id=tg_id, actor="user:7")
    with sessions() as session:
        assert customers.get(session=session, customer_id=tg_id) is None
        kept = customers.get_or_raise(session=session, customer_id=web_id)
        assert (kept.name, kept.phone, kept.company, kept.type, kept.contact_consent) == (
            "Dana Ruiz", "+442079460958", "Acme", "customer", True)
        assert [i.channel for i in kept.identities] == ["telegram"]
        for cid in (web_cid, tg_cid):
            conversation = conversations.get(session=session, conversation_id=cid)
            assert conversation is not None and conversation.customer_id == web_id
        assert len(interactions.timeline_for_customer(session=session, customer_id=web_id)) == 2
        assert leads.list_leads(session=session, customer_id=web_id)[1] == 1
        assert len(cases.list_for_customer(session=session, customer_id=web_id)) == 1
        actions = {(e.action, e.entity_id) for e in audit.list_entries(
            session=session, entity="customer") if e.actor == "user:7"}
        assert actions == {("merge", str(web_id)), ("merged_into", str(tg_id))}


def test_the_kept_record_takes_the_other_email(sessions: sessionmaker[Session]) -> None:
    web_id, tg_id, _, _ = two_records(sessions)
    with sessions() as session:
        email = customers.get_or_raise(session=session, customer_id=web_id).email
    with sessions.begin() as session:
        kept = customer_merge.merge(session=session, keep_id=tg_id, merge_id=web_id,
                                    actor="test")
        assert kept.email == email and kept.name == "Dana R."


def test_refusals(sessions: sessionmaker[Session]) -> None:
    web_id, tg_id, _, _ = two_records(sessions)
    with sessions.begin() as session:
        with pytest.raises(InvalidValue, match="itself"):
            customer_merge.merge(session=session, keep_id=web_id, merge_id=web_id, actor="t")
        leads.open_or_update_lead(session=session, customer_id=web_id, changed_by="test")
    with sessions.begin() as session, pytest.raises(InvalidValue, match="open lead"):
        customer_merge.merge(session=session, keep_id=web_id, merge_id=tg_id, actor="t")
