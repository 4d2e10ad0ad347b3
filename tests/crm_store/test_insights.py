"""Every Insights figure on a history whose answers are known (tests/crm_store/insight_world.py).

Runs on SQLite and on PostgreSQL: the same SQL must give the same numbers on both.
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from crm_store import insights
from tests.crm_store import insight_world as w


@pytest.fixture
def world(session: Session) -> w.World:
    return w.build(session)


def scope(**kwargs: object) -> insights.Scope:
    return insights.Scope.from_days(w.FIRST_DAY, w.LAST_DAY, **kwargs)  # type: ignore[arg-type]


def test_conversations_and_busiest_hours(session: Session, world: w.World) -> None:
    assert insights.conversations_per_day(session=session, scope=scope()).rows == [
        ["2026-03-02", "web", 1], ["2026-03-03", "telegram", 1], ["2026-03-03", "web", 2],
    ]
    assert insights.busiest_hours(session=session, scope=scope()).rows == [
        [0, 10, 1], [1, 10, 1], [1, 13, 2],
    ]
    only_web = insights.conversations_per_day(session=session, scope=scope(channel="web"))
    assert [r[1] for r in only_web.rows] == ["web", "web"]


def test_containment_and_handoff_reasons(session: Session, world: w.World) -> None:
    assert insights.containment(session=session, scope=scope()).rows == [
        ["telegram", 1, 1, 0, 1.0, 0.0],
        ["web", 3, 1, 2, 0.3333, 0.6667],
        ["all", 4, 2, 2, 0.5, 0.5],
    ]
    assert insights.handoff_reasons(session=session, scope=scope()).rows == [
        ["the assistant could not answer 2 turns", 1, 0.5],
        ["the customer asked for a person", 1, 0.5],
    ]


def test_faq_outcomes_and_entries(session: Session, world: w.World) -> None:
    assert insights.faq_outcomes(session=session, scope=scope()).rows == [
        ["answered", 2, 0.4], ["clarify", 1, 0.2], ["declined", 2, 0.4],
    ]
    # pro-price answered twice; once the customer then asked for a person.
    assert insights.faq_entries(session=session, scope=scope()).rows == [
        ["pro-price", 2, 1, 0.5],
    ]
    telegram = insights.faq_entries(session=session, scope=scope(channel="telegram"))
    assert telegram.rows == [["pro-price", 1, 0, 0.0]]


def test_agents_first_reply_and_resolution(session: Session, world: w.World) -> None:
    table = insights.agent_performance(session=session, scope=scope())
    assert table.records() == [
        {"agent_id": world.agent1, "agent": "Agent One", "handoffs": 1, "conversations": 1,
         "first_reply_median_s": 120.0, "first_reply_p90_s": 120.0,
         "resolution_median_s": 3600.0, "resolution_p90_s": 3600.0, "resolved": 1},
        {"agent_id": world.agent2, "agent": "Agent Two", "handoffs": 1, "conversations": 1,
         "first_reply_median_s": 600.0, "first_reply_p90_s": 600.0,
         "resolution_median_s": None, "resolution_p90_s": None, "resolved": 0},
        {"agent_id": None, "agent": "all agents", "handoffs": 2, "conversations": 2,
         "first_reply_median_s": 120.0, "first_reply_p90_s": 600.0,
         "resolution_median_s": 3600.0, "resolution_p90_s": 3600.0, "resolved": 1},
    ]
    own = insights.agent_performance(session=session, scope=scope(agent_id=world.agent2))
    assert [r["agent"] for r in own.records()] == ["Agent Two"]


def test_open_queue_by_age(session: Session, world: w.World) -> None:
    table = insights.open_queue(session=session, scope=scope(), now=w.NOW)
    # C is with agent 2 for an hour; E has waited since 40 days before T.
    assert {r[0]: r[1:] for r in table.rows if r[1]} == {
        "30 min–2 h": [1, 0, 1, 3600.0],
        "over 1 day": [1, 1, 0, (w.NOW - w.T).total_seconds() + 40 * 86400],
    }
    mine = insights.open_queue(session=session, scope=scope(agent_id=world.agent1), now=w.NOW)
    assert sum(r[1] for r in mine.rows) == 0


def test_lead_funnel_and_sources(session: Session, world: w.World) -> None:
    funnel = {r["stage"]: r for r in insights.lead_funnel(session=session, scope=scope())
              .records()}
    assert [funnel[s]["reached"] for s in insights.PIPELINE] == [3, 1, 1, 1, 1]
    assert funnel["qualified"]["conversion"] == 0.3333
    assert funnel["won"]["conversion"] == 1.0
    assert (funnel["lost"]["reached"], funnel["lost"]["conversion"]) == (1, 0.3333)
    assert (funnel["new"]["median_days_in_stage"], funnel["new"]["p90_days_in_stage"]) == (1, 2)
    assert funnel["qualified"]["median_days_in_stage"] == 2
    assert funnel["new"]["now_in_stage"] == 1
    assert insights.lead_sources(session=session, scope=scope()).rows == [
        ["web", 2, 1, 0, 1.0, 1200.0], ["telegram", 1, 0, 1, 0.0, 0.0],
    ]
    own = insights.lead_funnel(session=session, scope=scope(agent_id=world.agent2)).records()
    assert own[0]["reached"] == 1


def test_cases_by_status(session: Session, world: w.World) -> None:
    rows = {r[0]: r[1:] for r in insights.cases_by_status(session=session, scope=scope(),
                                                          now=w.NOW).rows}
    assert rows["resolved"] == [1, 1.0, 1.0, 0]
    assert rows["open"] == [1, 1.0, 1.0, 0]


def test_an_empty_range_gives_empty_figures(session: Session, world: w.World) -> None:
    empty = insights.Scope.from_days(w.FIRST_DAY.replace(year=2020), w.LAST_DAY.replace(year=2020))
    for name in insights.FIGURES:
        table = insights.compute(session=session, name=name, scope=empty)
        assert all(isinstance(row, list) for row in table.rows)
    assert insights.containment(session=session, scope=empty).rows == [
        ["all", 0, 0, 0, None, None]
    ]


def test_ranges_are_checked() -> None:
    with pytest.raises(ValueError, match="starts after"):
        insights.Scope.from_days(w.LAST_DAY, w.FIRST_DAY)
    with pytest.raises(ValueError, match="too long"):
        insights.Scope.from_days(w.FIRST_DAY.replace(year=2020), w.LAST_DAY)


def test_csv_cells_never_become_formulas() -> None:
    table = insights.Table("t", ["reason"], [["=HYPERLINK(\"x\")"], ["plain"]])
    assert table.to_csv().splitlines() == ["reason", '"\'=HYPERLINK(""x"")"', "plain"]
