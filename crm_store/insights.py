"""The Insights figures, each one SQL query on the CRM tables (SQLite and PostgreSQL alike).

Every figure is a keyword-only function ``(*, session, scope) -> Table``: named columns and rows,
which the API serves as JSON or CSV and the report and the console page chart. A Scope is the
date range (UTC days, end exclusive), an optional channel and, for an agent looking at their own
figures, the agent's user id. What a figure counts in the range:

- conversations, containment, handoff reasons, the busiest hours: conversations *started* in it;
- FAQ outcomes and entries: customer messages / bot answers *sent* in it;
- agents: handoff cases *opened* in it (first reply and resolution may fall after it);
- the lead funnel and sources: leads *created* in it; cases: cases *opened* in it;
- the open queue is the queue *now* (the range does not apply).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from crm_store.enums import Author, CaseType, ConversationStatus, LeadStage
from crm_store.errors import InvalidValue
from crm_store.faq_outcomes import PERSON_INTENTS
from crm_store.models import (
    CASE_STATUSES,
    FAQ_OUTCOMES,
    LEAD_STAGES,
    OPEN_LEAD_STAGES,
    Case,
    Conversation,
    Interaction,
    Lead,
    LeadStageChange,
    User,
    utcnow,
)
from crm_store.sqltime import day, epoch, hour, percentiles, weekday

PIPELINE = (*OPEN_LEAD_STAGES, LeadStage.WON)
QUEUE_BUCKETS = (  # (label, upper bound in seconds)
    ("under 5 min", 300),
    ("5–30 min", 1800),
    ("30 min–2 h", 7200),
    ("2–8 h", 28800),
    ("8–24 h", 86400),
    ("over 1 day", None),
)
TEAM = -1  # the group id of "all agents" in agent_performance
DEFAULT_DAYS = 30
MAX_DAYS = 731


@dataclass(frozen=True)
class Scope:
    """What a figure looks at: [start, end) in UTC, optionally one channel and one agent."""

    start: datetime
    end: datetime
    channel: str | None = None
    agent_id: int | None = None

    @classmethod
    def from_days(
        cls,
        first: date | None = None,
        last: date | None = None,
        *,
        channel: str | None = None,
        agent_id: int | None = None,
        today: date | None = None,
    ) -> Scope:
        """The scope of whole UTC days first..last (inclusive; default: the last 30 days)."""
        today = today or utcnow().date()
        last = last or today
        first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise InvalidValue("The range starts after it ends: 'from' must not be after 'to'.")
        if (last - first).days >= MAX_DAYS:
            raise InvalidValue(f"The range is too long: at most {MAX_DAYS} days.")
        start = datetime.combine(first, time(0), tzinfo=UTC)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
        return cls(start=start, end=end, channel=channel, agent_id=agent_id)

    def describe(self) -> dict[str, Any]:
        """The scope as JSON-friendly data."""
        return {
            "from": self.start.date().isoformat(),
            "to": (self.end - timedelta(days=1)).date().isoformat(),
            "channel": self.channel,
            "agent_id": self.agent_id,
        }


@dataclass
class Table:
    """A figure's result: column names and rows (numbers rounded for people)."""

    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_csv(self) -> str:
        """The table as CSV text with a header row."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if v is None else _csv_safe(v) for v in row])
        return buffer.getvalue()


def _csv_safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet: questions are customer text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _num(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _rate(part: Any, whole: Any) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _in_range(column: Any, scope: Scope) -> Any:
    return and_(column >= scope.start, column < scope.end)


# --- conversations and the bot -----------------------------------------------------------


def _conversations_in(scope: Scope) -> list[Any]:
    conditions = [_in_range(Conversation.created_at, scope)]
    if scope.channel:
        conditions.append(Conversation.channel == scope.channel)
    return conditions


def conversations_per_day(*, session: Session, scope: Scope) -> Table:
    """Conversations started per UTC day and channel."""
    d = day(Conversation.created_at).label("day")
    rows = session.execute(
        select(d, Conversation.channel, func.count())
        .where(*_conversations_in(scope))
        .group_by(d, Conversation.channel)
        .order_by(d, Conversation.channel)
    ).all()
    return Table("conversations-per-day", ["day", "channel", "conversations"],
                 [[r[0], r[1], r[2]] for r in rows])


def busiest_hours(*, session: Session, scope: Scope) -> Table:
    """Conversations started per weekday (0 = Monday) and UTC hour."""
    wd, hr = weekday(Conversation.created_at).label("wd"), hour(Conversation.created_at).label("hr")
    rows = session.execute(
        select(wd, hr, func.count()).where(*_conversations_in(scope)).group_by(wd, hr)
    ).all()
    return Table("busiest-hours", ["weekday", "hour", "conversations"],
                 sorted([int(r[0]), int(r[1]), r[2]] for r in rows))


def containment(*, session: Session, scope: Scope) -> Table:
    """Per channel and in total: conversations the bot finished alone vs handed to a person."""
    handed = func.sum(case((Conversation.handoff_at.is_not(None), 1), else_=0))
    rows = session.execute(
        select(Conversation.channel, func.count(), handed)
        .where(*_conversations_in(scope))
        .group_by(Conversation.channel)
        .order_by(Conversation.channel)
    ).all()
    table = Table("containment", ["channel", "conversations", "contained", "handed_off",
                                  "containment_rate", "handoff_rate"])
    total, total_handed = 0, 0
    for channel, count, handed_off in rows:
        handed_off = int(handed_off or 0)
        total, total_handed = total + count, total_handed + handed_off
        table.rows.append([channel, count, count - handed_off, handed_off,
                           _rate(count - handed_off, count), _rate(handed_off, count)])
    table.rows.append(["all", total, total - total_handed, total_handed,
                       _rate(total - total_handed, total), _rate(total_handed, total)])
    return table


def handoff_reasons(*, session: Session, scope: Scope) -> Table:
    """Why conversations started in the range went to a person, most frequent first."""
    reason = func.coalesce(Conversation.handoff_reason, "unknown").label("reason")
    rows = session.execute(
        select(reason, func.count().label("n"))
        .where(*_conversations_in(scope), Conversation.handoff_at.is_not(None))
        .group_by(reason)
        .order_by(func.count().desc(), reason)
    ).all()
    total = sum(r[1] for r in rows)
    return Table("handoff-reasons", ["reason", "handoffs", "share"],
                 [[r[0], r[1], _rate(r[1], total)] for r in rows])


def _questions_in(scope: Scope) -> list[Any]:
    conditions = [
        Interaction.author == Author.CUSTOMER,
        _in_range(Interaction.created_at, scope),
    ]
    if scope.channel:
        conditions.append(Interaction.channel == scope.channel)
    return conditions


def faq_outcomes(*, session: Session, scope: Scope) -> Table:
    """Customer questions the FAQ search answered, asked "did you mean" about, or declined."""
    rows = dict(
        session.execute(
            select(Interaction.faq_outcome, func.count())
            .where(*_questions_in(scope), Interaction.faq_outcome.is_not(None))
            .group_by(Interaction.faq_outcome)
        ).all()
    )
    total = sum(rows.values())
    return Table("faq-outcomes", ["outcome", "questions", "share"],
                 [[o, rows.get(o, 0), _rate(rows.get(o, 0), total)] for o in FAQ_OUTCOMES])


def faq_entries(*, session: Session, scope: Scope, limit: int = 50) -> Table:
    """FAQ entries by answers given, and how often the customer then asked for a person.

    An answer is "followed by a request for a person" when the customer's next message asks for
    one. Counted from the requests (few) backwards, each to the message just before it among
    customer messages and FAQ answers, so the query never walks every message of the range.
    """
    conditions = [Interaction.faq_entry_id.is_not(None), _in_range(Interaction.created_at, scope)]
    if scope.channel:
        conditions.append(Interaction.channel == scope.channel)
    answers = session.execute(
        select(Interaction.faq_entry_id, func.count())
        .where(*conditions)
        .group_by(Interaction.faq_entry_id)
        .order_by(func.count().desc(), Interaction.faq_entry_id)
        .limit(limit)
    ).all()
    request = aliased(Interaction, name="request")
    # The entry of the message just before the request, if that message was an FAQ answer.
    answered_before = (
        select(Interaction.faq_entry_id)
        .where(Interaction.conversation_id == request.conversation_id,
               Interaction.id < request.id,
               or_(Interaction.author == Author.CUSTOMER, Interaction.faq_entry_id.is_not(None)))
        .order_by(Interaction.id.desc())
        .limit(1)
        .correlate(request)
        .scalar_subquery()
    )
    # Only customer messages carry an intent, so the intent alone finds the requests (and an
    # index on (intent, created_at) covers the whole lookup).
    asked = [request.intent.in_(PERSON_INTENTS), _in_range(request.created_at, scope)]
    if scope.channel:
        asked.append(request.channel == scope.channel)
    requests = select(answered_before.label("entry")).where(*asked).subquery("requests")
    # Grouped with the NULLs (requests not after an answer) and those dropped here: a WHERE on
    # the subquery's column would evaluate the lookup twice per request.
    escalated: dict[str, int] = {
        entry: n for entry, n in session.execute(
            select(requests.c.entry, func.count()).group_by(requests.c.entry)).all()
        if entry is not None
    }
    return Table("faq-entries", ["entry_id", "answers", "then_asked_for_person", "person_rate"],
                 [[entry, n, escalated.get(str(entry), 0), _rate(escalated.get(str(entry), 0), n)]
                  for entry, n in answers])


# --- agents ------------------------------------------------------------------------------


def agent_performance(*, session: Session, scope: Scope) -> Table:
    """Per agent (and the team): handoffs taken, time to first reply and to resolution.

    A handoff case is taken by the agent of its first reply (Case.first_reply_at/_agent_id,
    recorded as replies are written); one statement computes every agent's percentiles and the
    team's (the total row).
    """
    conditions: list[Any] = [Case.type == CaseType.HANDOFF, _in_range(Case.created_at, scope),
                             Case.first_reply_at.is_not(None)]
    taken = select(
        Case.conversation_id.label("conversation_id"),
        func.coalesce(Case.first_reply_agent_id, 0).label("agent_id"),
        (epoch(Case.first_reply_at) - epoch(Case.created_at)).label("first_reply_s"),
        (epoch(Case.resolved_at) - epoch(Case.created_at)).label("resolution_s"),
    )
    if scope.channel:
        taken = taken.join(Conversation, Conversation.id == Case.conversation_id)
        conditions.append(Conversation.channel == scope.channel)
    if scope.agent_id is not None:
        conditions.append(Case.first_reply_agent_id == scope.agent_id)
    stmt = percentiles(taken.where(*conditions).subquery("taken"),
                       ("first_reply_s", "resolution_s"), ("agent_id",), total=True, extra=(
        lambda r: func.count(func.distinct(r.c.conversation_id)).label("conversations"),),
        dialect=_dialect(session))
    # The team's row has no agent (NULL): TEAM here.
    stats = {TEAM if r["agent_id"] is None else r["agent_id"]: r
             for r in session.execute(stmt).mappings()}
    names = dict(session.execute(
        select(User.id, User.name).where(User.id.in_([g for g in stats if g > 0]))).all())
    table = Table("agents", ["agent_id", "agent", "handoffs", "conversations",
                             "first_reply_median_s", "first_reply_p90_s",
                             "resolution_median_s", "resolution_p90_s", "resolved"])
    for grp in [*sorted(g for g in stats if g != TEAM), TEAM]:
        row: Any = stats.get(grp) or {}
        table.rows.append([
            None if grp in (TEAM, 0) else grp,
            "all agents" if grp == TEAM else names.get(grp, "unknown agent"),
            row.get("n_first_reply_s") or 0, row.get("conversations") or 0,
            _num(row.get("first_reply_s_p50")), _num(row.get("first_reply_s_p90")),
            _num(row.get("resolution_s_p50")), _num(row.get("resolution_s_p90")),
            row.get("n_resolution_s") or 0,
        ])
    if scope.agent_id is not None:  # an agent's own view: their row only
        table.rows = [r for r in table.rows if r[0] == scope.agent_id]
    return table


def open_queue(*, session: Session, scope: Scope, now: datetime | None = None) -> Table:
    """The queue now: conversations waiting for or with an agent, by how long since handoff."""
    now = now or utcnow()
    age = (literal(now.timestamp()) - epoch(Conversation.handoff_at)).label("age")
    conditions: list[Any] = [
        Conversation.status.in_((ConversationStatus.HANDOFF, ConversationStatus.AGENT)),
        Conversation.handoff_at.is_not(None),
    ]
    if scope.channel:
        conditions.append(Conversation.channel == scope.channel)
    if scope.agent_id is not None:
        conditions.append(Conversation.assigned_agent_id == scope.agent_id)
    ages = select(Conversation.status.label("status"), age).where(*conditions).subquery("ages")
    whens = [(ages.c.age < bound, i) for i, (_, bound) in enumerate(QUEUE_BUCKETS) if bound]
    bucket = case(*whens, else_=len(QUEUE_BUCKETS) - 1).label("bucket")
    waiting = func.sum(case((ages.c.status == ConversationStatus.HANDOFF, 1), else_=0))
    rows = {
        r[0]: r for r in session.execute(
            select(bucket, func.count(), waiting, func.max(ages.c.age)).group_by(bucket)
        ).all()
    }
    table = Table("queue", ["age", "conversations", "waiting", "with_agent", "oldest_s"])
    for i, (label, _) in enumerate(QUEUE_BUCKETS):
        _, count, wait, oldest = rows.get(i, (i, 0, 0, None))
        table.rows.append([label, count, int(wait or 0), count - int(wait or 0), _num(oldest, 0)])
    return table


# --- sales and support -------------------------------------------------------------------


def _leads_in(scope: Scope) -> list[Any]:
    conditions = [_in_range(Lead.created_at, scope)]
    if scope.channel:
        conditions.append(Lead.source_channel == scope.channel)
    if scope.agent_id is not None:
        conditions.append(Lead.owner_id == scope.agent_id)
    return conditions


def lead_funnel(*, session: Session, scope: Scope) -> Table:
    """Leads reaching each pipeline stage, conversion from the stage before, time in stage."""
    rank = case(*[(LeadStageChange.to_stage == s, i) for i, s in enumerate(PIPELINE)],
                else_=None)
    leads = select(Lead.id).where(*_leads_in(scope)).subquery("scoped")
    furthest = (
        select(LeadStageChange.lead_id, func.max(rank).label("furthest"))
        .join(leads, leads.c.id == LeadStageChange.lead_id)
        .group_by(LeadStageChange.lead_id)
        .subquery("furthest")
    )
    at_most: dict[int, int] = dict(session.execute(  # type: ignore[arg-type]
        select(furthest.c.furthest, func.count()).group_by(furthest.c.furthest)).all())
    reached = {i: sum(n for f, n in at_most.items() if f is not None and f >= i)
               for i in range(len(PIPELINE))}
    current = dict(session.execute(
        select(Lead.stage, func.count()).where(*_leads_in(scope)).group_by(Lead.stage)).all())
    next_change = func.lead(LeadStageChange.changed_at).over(
        partition_by=LeadStageChange.lead_id, order_by=LeadStageChange.id
    )
    stays = (
        select(
            LeadStageChange.to_stage.label("stage"),
            (epoch(next_change)
             - epoch(LeadStageChange.changed_at)).label("seconds"),
        )
        .join(leads, leads.c.id == LeadStageChange.lead_id)
        .subquery("stays")
    )
    in_stage = {r["stage"]: r for r in session.execute(
        percentiles(stays, ("seconds",), ("stage",), dialect=_dialect(session))).mappings()}
    table = Table("lead-funnel", ["stage", "reached", "now_in_stage", "conversion",
                                  "median_days_in_stage", "p90_days_in_stage"])
    for stage in LEAD_STAGES:
        if stage in PIPELINE:
            i = PIPELINE.index(stage)
            count = reached[i]
            conversion = _rate(count, reached[i - 1]) if i else None
        else:  # lost: not a step of the pipeline
            count, conversion = current.get(stage, 0), _rate(current.get(stage, 0), reached[0])
        stays_row: Any = in_stage.get(stage) or {}
        days = [None if stays_row.get(p) is None else round(stays_row[p] / 86400, 2)
                for p in ("seconds_p50", "seconds_p90")]
        table.rows.append([str(stage), count, current.get(stage, 0), conversion, *days])
    return table


def lead_sources(*, session: Session, scope: Scope) -> Table:
    """Leads per source channel: how many, how many won and lost, win rate, value won."""
    source = func.coalesce(Lead.source_channel, "unknown").label("source")
    won = func.sum(case((Lead.stage == LeadStage.WON, 1), else_=0))
    lost = func.sum(case((Lead.stage == LeadStage.LOST, 1), else_=0))
    value = func.coalesce(
        func.sum(case((Lead.stage == LeadStage.WON, Lead.expected_value), else_=0)), 0)
    rows = session.execute(
        select(source, func.count(), won, lost, value)
        .where(*_leads_in(scope)).group_by(source).order_by(func.count().desc(), source)
    ).all()
    return Table("lead-sources", ["source", "leads", "won", "lost", "win_rate", "won_value"],
                 [[r[0], r[1], int(r[2] or 0), int(r[3] or 0),
                   _rate(r[2] or 0, (r[2] or 0) + (r[3] or 0)), _num(r[4], 2)] for r in rows])


def cases_by_status(*, session: Session, scope: Scope, now: datetime | None = None) -> Table:
    """Cases opened in the range by status, with their age (open) or time to resolution."""
    now = now or utcnow()
    ended = func.coalesce(epoch(Case.resolved_at), literal(now.timestamp()))
    conditions: list[Any] = [_in_range(Case.created_at, scope)]
    stmt = select(Case.status.label("status"), (ended - epoch(Case.created_at)).label("age"))
    if scope.channel:
        stmt = stmt.join(Conversation, Conversation.id == Case.conversation_id)
        conditions.append(Conversation.channel == scope.channel)
    ages = stmt.where(*conditions).subquery("case_ages")
    stats = {r["status"]: r for r in session.execute(
        percentiles(ages, ("age",), ("status",), dialect=_dialect(session))).mappings()}
    old: dict[str, int] = dict(session.execute(
        select(ages.c.status, func.count()).where(ages.c.age > 7 * 86400)
        .group_by(ages.c.status)).all())
    table = Table("cases", ["status", "cases", "median_age_h", "p90_age_h", "older_than_7d"])
    for status in CASE_STATUSES:
        row: Any = stats.get(status) or {}
        table.rows.append([
            str(status), row.get("n_age", 0),
            None if row.get("age_p50") is None else round(row["age_p50"] / 3600, 1),
            None if row.get("age_p90") is None else round(row["age_p90"] / 3600, 1),
            old.get(status, 0),
        ])
    return table


Figure = Callable[..., Table]

# name -> (function, whether an agent may see it scoped to themselves)
FIGURES: dict[str, tuple[Figure, bool]] = {
    "conversations-per-day": (conversations_per_day, False),
    "busiest-hours": (busiest_hours, False),
    "containment": (containment, False),
    "handoff-reasons": (handoff_reasons, False),
    "faq-outcomes": (faq_outcomes, False),
    "faq-entries": (faq_entries, False),
    "agents": (agent_performance, True),
    "queue": (open_queue, True),
    "lead-funnel": (lead_funnel, True),
    "lead-sources": (lead_sources, True),
    "cases": (cases_by_status, False),
}


def compute(*, session: Session, name: str, scope: Scope) -> Table:
    """The figure called name for scope; KeyError if there is no such figure."""
    function, _ = FIGURES[name]
    return function(session=session, scope=scope)
