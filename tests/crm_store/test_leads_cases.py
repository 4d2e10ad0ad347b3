"""Leads (open-or-update, stage moves, pipeline) and cases."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from crm_store import cases, customers, leads
from crm_store.errors import NotFoundError


def test_repeat_request_updates_the_open_lead(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="l@example.com")
    first, created = leads.open_or_update_lead(
        session=session,
        changed_by="test",
        customer_id=c.id, interest="Team plan", source_channel="web"
    )
    second, created_again = leads.open_or_update_lead(
        session=session, changed_by="test", customer_id=c.id, budget="10k", expected_value="1200.50"
    )
    assert created and not created_again and first.id == second.id
    assert (second.interest, second.budget, second.expected_value) == (
        "Team plan",
        "10k",
        Decimal("1200.50"),
    )
    assert c.type == "lead"
    assert [(h.from_stage, h.to_stage) for h in second.history] == [(None, "new")]


def test_closed_lead_means_a_new_one(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="again@example.com")
    lead, _ = leads.open_or_update_lead(session=session, changed_by="test", customer_id=c.id)
    leads.move_stage(
        session=session, lead_id=lead.id, to_stage="lost", changed_by="t", lost_reason="budget"
    )
    fresh, created = leads.open_or_update_lead(session=session, changed_by="test", customer_id=c.id)
    assert created and fresh.id != lead.id


def test_move_stage_records_history_and_requires_lost_reason(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="m@example.com")
    lead, _ = leads.open_or_update_lead(session=session, changed_by="system", customer_id=c.id)
    leads.move_stage(session=session, lead_id=lead.id, to_stage="qualified", changed_by="user:1")
    with pytest.raises(ValueError, match="lost_reason is required"):
        leads.move_stage(session=session, lead_id=lead.id, to_stage="lost", changed_by="user:1")
    with pytest.raises(ValueError, match="stage must be one of"):
        leads.move_stage(session=session, lead_id=lead.id, to_stage="maybe", changed_by="user:1")
    leads.move_stage(session=session, lead_id=lead.id, to_stage="won", changed_by="user:2")
    assert [(h.from_stage, h.to_stage, h.changed_by) for h in lead.history] == [
        (None, "new", "system"),
        ("new", "qualified", "user:1"),
        ("qualified", "won", "user:2"),
    ]
    assert c.type == "customer"
    with pytest.raises(NotFoundError):
        leads.move_stage(session=session, lead_id=999, to_stage="won", changed_by="x")


def test_pipeline_summary_counts_every_stage(session: Session) -> None:
    for i, value in enumerate(("100", "250.25", None)):
        c = customers.create(session=session, actor="test", email=f"p{i}@example.com")
        lead, _ = leads.open_or_update_lead(
            session=session, changed_by="test", customer_id=c.id, expected_value=value
        )
        if i == 2:
            leads.move_stage(session=session, lead_id=lead.id, to_stage="proposal", changed_by="t")
    summary = {row["stage"]: row for row in leads.pipeline_summary(session=session)}
    assert list(summary) == ["new", "qualified", "contacted", "proposal", "won", "lost"]
    assert (summary["new"]["count"], summary["new"]["expected_value"]) == (2, Decimal("350.25"))
    assert (summary["proposal"]["count"], summary["won"]["count"]) == (1, 0)
    rows, total = leads.list_leads(session=session, stage="new")
    assert total == 2 and {r.stage for r in rows} == {"new"}


def test_cases_open_update_and_list(session: Session) -> None:
    c = customers.create(session=session, actor="test", email="case@example.com")
    case = cases.open_case(
        session=session,
        actor="test",
        subject="Invoice wrong",
        customer_id=c.id,
        conversation_id=None,
        type="problem",
        priority="high",
    )
    assert (case.status, case.priority) == ("open", "high")
    cases.set_status(session=session, actor="test", case_id=case.id, status="resolved")
    assert case.status == "resolved"
    with pytest.raises(ValueError, match="status must be one of"):
        cases.set_status(session=session, actor="test", case_id=case.id, status="done")
    with pytest.raises(ValueError, match="priority must be one of"):
        cases.open_case(session=session, actor="test", subject="x", priority="asap")
    assert [x.id for x in cases.list_for_customer(session=session, customer_id=c.id)] == [case.id]
    rows, total = cases.list_cases(session=session, status="open")
    assert (rows, total) == ([], 0)
