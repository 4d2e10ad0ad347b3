"""Knowledge gaps under /api/v1/insights/gaps: clusters, re-run, apply, dismiss (crm_store.gaps)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from crm_store import gaps
from crm_store.api.auth import Principal
from crm_store.api.deps import SessionDep, get_session_factory
from crm_store.api.knowledge import INDEX_UNAVAILABLE, KnowledgeDep, KnowledgeService
from crm_store.api.routes.insights import CSV_RESPONSE, TeamPrincipal, csv_response
from crm_store.enums import GapClusterStatus, GapRunTrigger
from crm_store.insights import Table
from crm_store.models import GapCluster, GapRun
from crm_store.schemas import Input, PathId

router = APIRouter(prefix="/insights/gaps", tags=["insights"])

DRAFT_QUESTIONS = 12
SLUG = r"^[a-z0-9][a-z0-9_-]*$"


def require_team_writer(principal: TeamPrincipal) -> Principal:
    """A manager, admin or the system: who may change the FAQ; 403 for viewers."""
    if not principal.can_write:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Viewers may not change the FAQ.")
    return principal


TeamWriter = Annotated[Principal, Depends(require_team_writer)]


class RunOut(BaseModel):
    id: int
    trigger: str
    actor: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    questions: int
    clusters: int
    params: dict[str, Any] | None
    error: str | None


class ClusterOut(BaseModel):
    """A cluster with a ready-to-edit draft for either action."""

    id: int
    run_id: int
    label: str
    size: int
    weekly: list[int]
    trend: float
    questions: list[dict[str, Any]]
    nearest_entry_id: str | None
    nearest_question: str | None
    nearest_similarity: float | None
    agent_answer: str | None
    status: str
    applied_entry_id: str | None
    suggestion: Literal["paraphrases", "new"]
    draft_entry_id: str
    draft_questions: list[str]
    draft_answer: str


class GapsOut(BaseModel):
    run: RunOut | None
    latest: RunOut | None  # the newest run, which may still be running or have failed
    clusters: list[ClusterOut]


class ApplyIn(Input):
    """What to write: paraphrases of an entry, or a new entry with its answer."""

    mode: Literal["paraphrases", "new"]
    entry_id: str = Field(min_length=1, max_length=100, pattern=SLUG)
    questions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=50)
    answer: str | None = Field(default=None, max_length=4000)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=10)


class ApplyOut(BaseModel):
    cluster_id: int
    entry_id: str
    source: str
    questions: list[str]
    answer: str


def _run_out(run: GapRun | None) -> RunOut | None:
    return None if run is None else RunOut.model_validate(run, from_attributes=True)


def _cluster_out(cluster: GapCluster) -> ClusterOut:
    from knowledge.build.gaps import PARAPHRASE_SIMILARITY
    from knowledge.build.sources import slugify

    distinct: list[str] = []
    for q in cluster.questions:
        if q["text"].casefold() not in {d.casefold() for d in distinct}:
            distinct.append(q["text"])
    close = (cluster.nearest_similarity or 0) >= PARAPHRASE_SIMILARITY
    return ClusterOut(
        **{k: getattr(cluster, k) for k in (
            "id", "run_id", "label", "size", "weekly", "trend", "questions",
            "nearest_entry_id", "nearest_question", "nearest_similarity", "agent_answer",
            "status", "applied_entry_id")},
        suggestion="paraphrases" if close and cluster.nearest_entry_id else "new",
        draft_entry_id=slugify(cluster.label)[:60],
        draft_questions=[cluster.label, *[d for d in distinct if d != cluster.label]]
        [:DRAFT_QUESTIONS],
        draft_answer=cluster.agent_answer or "",
    )


def _table(clusters: list[ClusterOut]) -> Table:
    return Table("knowledge-gaps", ["id", "label", "size", "trend", "status", "suggestion",
                                    "nearest_entry_id", "nearest_similarity", "examples",
                                    "agent_answer"],
                 [[c.id, c.label, c.size, c.trend, c.status, c.suggestion, c.nearest_entry_id,
                   c.nearest_similarity, " | ".join(c.draft_questions[:5]), c.agent_answer]
                  for c in clusters])


@router.get("", response_model=GapsOut, responses=CSV_RESPONSE)
def list_gaps(
    session: SessionDep, _: TeamPrincipal, include_closed: bool = False,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """The clusters of the latest finished run (open ones unless include_closed)."""
    run = gaps.latest_done_run(session=session)
    clusters = [] if run is None else [
        _cluster_out(c) for c in gaps.clusters_of(session=session, run_id=run.id)
        if include_closed or c.status == GapClusterStatus.OPEN]
    if format == "csv":
        return csv_response(_table(clusters), "knowledge-gaps.csv")
    return GapsOut(run=_run_out(run), latest=_run_out(gaps.latest_run(session=session)),
                   clusters=clusters)


def _mine(request: Request, knowledge: KnowledgeService, run_id: int) -> None:
    sessions = get_session_factory(request)
    try:
        engine = knowledge.engine()
    except HTTPException as error:
        with sessions.begin() as session:
            gaps.fail_run(session=session, run_id=run_id, error=str(error.detail))
        return
    try:
        gaps.finish_run(sessions=sessions, run_id=run_id, engine=engine,
                        settings=knowledge.settings)
    except Exception:  # recorded on the run by finish_run; the API keeps serving
        return


@router.post("/runs", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED)
def start_mining(
    request: Request, session: SessionDep, principal: TeamWriter, knowledge: KnowledgeDep,
    background: BackgroundTasks,
) -> RunOut:
    """Mine the gaps again now; poll GET /runs/{id} (or GET /insights/gaps) for the result."""
    try:
        run = gaps.start_run(session=session, trigger=GapRunTrigger.MANUAL, actor=principal.actor)
    except gaps.GapRunBusy as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    session.commit()
    background.add_task(_mine, request, knowledge, run.id)
    out = _run_out(run)
    assert out is not None
    return out


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: PathId, session: SessionDep, _: TeamPrincipal) -> RunOut:
    """One run: status, counts, parameters, error."""
    run = session.get(GapRun, run_id)
    if run is None:
        raise HTTPException(404, f"There is no knowledge-gap run {run_id}.")
    out = _run_out(run)
    assert out is not None
    return out


@router.post("/clusters/{cluster_id}/apply", response_model=ApplyOut,
             responses=INDEX_UNAVAILABLE)
def apply_cluster(
    cluster_id: PathId, body: ApplyIn, session: SessionDep, principal: TeamWriter,
    knowledge: KnowledgeDep,
) -> ApplyOut:
    """Write the cluster into the FAQ (paraphrases of an entry or a new entry) and rebuild."""
    if body.mode == "new" and not (body.answer or "").strip():
        raise HTTPException(422, "A new entry needs an answer.")
    gaps.get_cluster(session=session, cluster_id=cluster_id)  # 404 before loading the index
    try:
        edit = gaps.apply(
            session=session, cluster_id=cluster_id, settings=knowledge.settings,
            engine=knowledge.engine(), actor=principal.actor, questions=body.questions,
            entry_id=body.entry_id, answer=body.answer if body.mode == "new" else None,
            tags=body.tags,
        )
    except gaps.GapActionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return ApplyOut(cluster_id=cluster_id, entry_id=edit.entry_id, source=edit.path.name,
                    questions=edit.after["questions"], answer=edit.after["answer"])


@router.post("/clusters/{cluster_id}/dismiss", response_model=ClusterOut)
def dismiss_cluster(cluster_id: PathId, session: SessionDep, principal: TeamWriter) -> ClusterOut:
    """Not worth an entry: hide the cluster; its questions are not mined again."""
    try:
        cluster = gaps.dismiss(session=session, cluster_id=cluster_id, actor=principal.actor)
    except gaps.GapActionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return _cluster_out(cluster)
