"""Knowledge gaps from the CRM: which questions to mine, storing the clusters, acting on them.

A question is a candidate when the FAQ search declined it or asked "did you mean", answered it
with a weak score, or when the conversation went to a person within minutes after it. The
mining itself (embedding, clustering, nearest entry) is knowledge.build.gaps; this module feeds
it, adds the agent's answer where an agent answered such a question, and stores a run's
clusters.
Acting on a cluster writes the FAQ source (knowledge.build.faq_edit), rebuilds the index
incrementally (knowledge.build), and records the change in the audit log; the action server
picks the new index up on its next FAQ turn (FaqEngine.reload_if_changed).

``python -m crm_store.gaps`` mines once (what the nightly job runs; see relay.nightly).
"""

from __future__ import annotations

import argparse
import fcntl
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from crm_store import audit
from crm_store.enums import Author, FaqOutcome, GapClusterStatus, GapRunStatus, GapRunTrigger
from crm_store.errors import NotFoundError
from crm_store.models import Conversation, GapCluster, GapRun, Interaction, utcnow
from crm_store.sqltime import seconds_between

if TYPE_CHECKING:
    from knowledge.build.faq_edit import Edit
    from knowledge.runtime.engine import FaqEngine
    from relay.settings import Settings

LOOKBACK_DAYS = 56  # eight weeks: enough for a trend, recent enough to matter
HANDOFF_WINDOW = timedelta(minutes=15)
STALE_RUN = timedelta(minutes=30)  # a run "running" for longer than this has died
MAX_STORED_QUESTIONS = 200
_build_lock = threading.Lock()


class GapRunBusy(RuntimeError):
    """Another mining run is in progress."""


class GapActionError(ValueError):
    """The action on a cluster cannot be done; the message says why."""


def _excluded_keys(session: Session) -> set[int]:
    """Questions of clusters already applied or dismissed: not mined again."""
    keys: set[int] = set()
    for questions in session.scalars(
        select(GapCluster.questions).where(
            GapCluster.status.in_((GapClusterStatus.APPLIED, GapClusterStatus.DISMISSED)))
    ):
        keys.update(int(q["id"]) for q in questions or [])
    return keys


def candidate_questions(*, session: Session, since: datetime, until: datetime) -> list[Any]:
    """The customer questions in [since, until) the bot did not handle well."""
    from knowledge.build.gaps import LOW_CONFIDENCE, Question

    weak = or_(
        Interaction.faq_outcome.in_((FaqOutcome.DECLINED, FaqOutcome.CLARIFY)),
        and_(Interaction.faq_outcome == FaqOutcome.ANSWERED,
             Interaction.faq_score < LOW_CONFIDENCE),
        seconds_between(Interaction.created_at, Conversation.handoff_at).between(
            0, HANDOFF_WINDOW.total_seconds()),
    )
    rows = session.execute(
        select(Interaction.id, Interaction.text, Interaction.created_at,
               Interaction.faq_outcome)
        .join(Conversation, Conversation.id == Interaction.conversation_id)
        .where(Interaction.author == Author.CUSTOMER, Interaction.faq_outcome.is_not(None),
               Interaction.created_at >= since, Interaction.created_at < until, weak)
        .order_by(Interaction.id)
    ).all()
    excluded = _excluded_keys(session)
    return [Question(key=r[0], text=r[1], at=r[2], outcome=r[3]) for r in rows
            if r[0] not in excluded and r[1].strip()]


def agent_answers(*, session: Session, keys: Sequence[int]) -> dict[int, str]:
    """For questions an agent answered: the agent's answer, by question id.

    The answer is the longest agent reply (not a note) after the question in its conversation:
    the first reply is usually a greeting ("Hi, Sam here"), the answer comes after it.
    """
    if not keys:
        return {}
    question = Interaction.__table__.alias("question")
    rows = session.execute(
        select(question.c.id, Interaction.text)
        .join(Interaction, and_(Interaction.conversation_id == question.c.conversation_id,
                                Interaction.id > question.c.id,
                                Interaction.author == Author.AGENT,
                                Interaction.note.is_(False)))
        .where(question.c.id.in_(list(keys)))
    ).all()
    answers: dict[int, str] = {}
    for qid, text in rows:
        if len(text) > len(answers.get(int(qid), "")):
            answers[int(qid)] = text
    return answers


def start_run(*, session: Session, trigger: str, actor: str) -> GapRun:
    """A new run marked running; GapRunBusy if another one is (and has not gone stale)."""
    running = session.scalars(
        select(GapRun).where(GapRun.status == GapRunStatus.RUNNING).order_by(GapRun.id.desc())
    ).first()
    if running is not None:
        if utcnow() - running.started_at < STALE_RUN:
            raise GapRunBusy(f"A knowledge-gap run (#{running.id}) is already in progress.")
        running.status, running.error = GapRunStatus.FAILED, "stopped without finishing"
    run = GapRun(trigger=trigger, actor=actor, status=GapRunStatus.RUNNING, started_at=utcnow())
    session.add(run)
    session.flush()
    return run


def finish_run(
    *, sessions: sessionmaker[Session], run_id: int, engine: FaqEngine, settings: Settings,
    now: datetime | None = None, days: int = LOOKBACK_DAYS,
) -> GapRun:
    """Mine the questions of the last `days` days and store the clusters under run_id."""
    from knowledge.build import gaps
    from knowledge.build.sources import load_faq

    now = now or utcnow()
    try:
        engine.reload_if_changed()
        with sessions() as session:
            questions = candidate_questions(session=session, since=now - timedelta(days=days),
                                            until=now)
        paraphrases = [(e.id, q) for e in load_faq(settings.faq_paths) for q in e.questions]
        mined = gaps.mine(questions, encoder=engine.encoder, paraphrases=paraphrases,
                          engine=engine, now=now, weeks=max(1, days // 7))
        with sessions.begin() as session:
            keys = [q.key for c in mined.clusters for q in c.questions]
            answers = agent_answers(session=session, keys=keys)
            conversation_of = dict(session.execute(
                select(Interaction.id, Interaction.conversation_id)
                .where(Interaction.id.in_(keys))).all()) if keys else {}
            for cluster in mined.clusters:
                answered = Counter(answers[q.key] for q in cluster.questions if q.key in answers)
                nearest = cluster.nearest
                session.add(GapCluster(
                    run_id=run_id, label=cluster.label, size=cluster.size,
                    weekly=cluster.weekly, trend=cluster.trend,
                    questions=[{"id": q.key, "text": q.text, "at": q.at.isoformat(),
                                "outcome": q.outcome,
                                "conversation_id": conversation_of.get(q.key)}
                               for q in cluster.questions[:MAX_STORED_QUESTIONS]],
                    nearest_entry_id=nearest.entry_id if nearest else None,
                    nearest_question=nearest.matched_question if nearest else None,
                    nearest_similarity=(round(nearest.similarity, 4)
                                        if nearest and nearest.similarity is not None else None),
                    # What agents answered most often (then the longest) for these questions.
                    agent_answer=max(answered, key=lambda a: (answered[a], len(a)))
                    if answered else None,
                ))
            run = session.get_one(GapRun, run_id)
            run.status, run.finished_at = GapRunStatus.DONE, utcnow()
            run.questions, run.clusters = mined.questions, len(mined.clusters)
            run.params = {"days": days, "threshold": mined.threshold,
                          "calibration_ari": mined.calibration_ari,
                          "distinct_questions": mined.distinct,
                          "dropped_answered": mined.dropped_answered}
        return run
    except Exception as error:
        with sessions.begin() as session:
            fail_run(session=session, run_id=run_id, error=str(error))
        raise


def fail_run(*, session: Session, run_id: int, error: str) -> GapRun:
    """Mark a run failed, saying why (e.g. the FAQ index could not be loaded)."""
    run = session.get_one(GapRun, run_id)
    run.status, run.finished_at, run.error = GapRunStatus.FAILED, utcnow(), error[:2000]
    session.flush()
    return run


def latest_run(*, session: Session) -> GapRun | None:
    """The most recent run (any status)."""
    return session.scalars(select(GapRun).order_by(GapRun.id.desc()).limit(1)).first()


def latest_done_run(*, session: Session) -> GapRun | None:
    """The most recent finished run."""
    return session.scalars(
        select(GapRun).where(GapRun.status == GapRunStatus.DONE)
        .order_by(GapRun.id.desc()).limit(1)
    ).first()


def clusters_of(*, session: Session, run_id: int) -> list[GapCluster]:
    """A run's clusters, largest first."""
    return list(session.scalars(
        select(GapCluster).where(GapCluster.run_id == run_id)
        .order_by(GapCluster.size.desc(), GapCluster.id)
    ).all())


def get_cluster(*, session: Session, cluster_id: int) -> GapCluster:
    """The cluster with that id; NotFoundError otherwise."""
    cluster = session.get(GapCluster, cluster_id)
    if cluster is None:
        raise NotFoundError("Knowledge-gap cluster", cluster_id)
    return cluster


def dismiss(*, session: Session, cluster_id: int, actor: str) -> GapCluster:
    """Mark a cluster as not worth an entry; its questions are not mined again."""
    cluster = get_cluster(session=session, cluster_id=cluster_id)
    if cluster.status != GapClusterStatus.OPEN:
        raise GapActionError(f"Cluster #{cluster_id} is already {cluster.status}.")
    cluster.status = GapClusterStatus.DISMISSED
    cluster.applied_by, cluster.applied_at = actor, utcnow()
    audit.record(session=session, actor=actor, action="dismiss", entity="knowledge_gap",
                 entity_id=cluster_id, after={"label": cluster.label, "size": cluster.size})
    session.flush()
    return cluster


@contextmanager
def _exclusive(index_dir: Path) -> Iterator[None]:
    """One FAQ edit and rebuild at a time: threads of this process, and other processes."""
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock, open(index_dir.parent / f".{index_dir.name}.edit.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def edit_and_rebuild(
    *, settings: Settings, engine: FaqEngine, paraphrases_of: str | None = None,
    new_entry: dict[str, Any] | None = None, questions: Sequence[str],
) -> Edit:
    """Write the FAQ source and rebuild the index; the source is restored if the build fails."""
    from knowledge.build import DEFAULT_OOS, build, read_oos
    from knowledge.build.faq_edit import LEARNED_FILE, FaqEditError, add_entry, add_paraphrases
    from knowledge.build.sources import FaqEntry, faq_files, load_faq

    paths = list(settings.faq_paths)
    with _exclusive(settings.index_dir):
        snapshot = {p: p.read_text(encoding="utf-8") for p in faq_files(paths)}
        try:
            if paraphrases_of is not None:
                edit = add_paraphrases(paths=paths, entry_id=paraphrases_of, questions=questions)
            else:
                entry = FaqEntry.model_validate({**(new_entry or {}),
                                                 "questions": list(questions)})
                edit = add_entry(paths=paths, entry=entry)
        except (FaqEditError, ValueError) as error:
            raise GapActionError(str(error).splitlines()[0]) from None
        try:
            build(load_faq(paths), index_dir=settings.index_dir, model=settings.embedding_model,
                  oos_texts=read_oos(DEFAULT_OOS), encoder=engine.encoder, progress=False,
                  models_dir=settings.models_dir)
        except Exception:
            for path, text in snapshot.items():
                path.write_text(text, encoding="utf-8")
            learned = next((Path(p) / LEARNED_FILE for p in paths if Path(p).is_dir()), None)
            if learned is not None and learned not in snapshot and learned.exists():
                learned.unlink()
            raise
    engine.reload_if_changed()
    return edit


def apply(
    *, session: Session, cluster_id: int, settings: Settings, engine: FaqEngine, actor: str,
    questions: Sequence[str], entry_id: str, answer: str | None = None,
    tags: Sequence[str] = (),
) -> Edit:
    """Turn a cluster into paraphrases of entry_id (answer None) or a new entry (with answer)."""
    cluster = get_cluster(session=session, cluster_id=cluster_id)
    if cluster.status != GapClusterStatus.OPEN:
        raise GapActionError(f"Cluster #{cluster_id} is already {cluster.status}.")
    if answer is None:
        edit = edit_and_rebuild(settings=settings, engine=engine, paraphrases_of=entry_id,
                                questions=questions)
        action = "add_paraphrases"
    else:
        edit = edit_and_rebuild(settings=settings, engine=engine, questions=questions,
                                new_entry={"id": entry_id, "answer": answer, "tags": list(tags)})
        action = "add_entry"
    cluster.status, cluster.applied_entry_id = GapClusterStatus.APPLIED, edit.entry_id
    cluster.applied_by, cluster.applied_at = actor, utcnow()
    audit.record(session=session, actor=actor, action=action, entity="faq_entry",
                 entity_id=edit.entry_id, before=edit.before,
                 after={**edit.after, "source": edit.path.name, "gap_cluster_id": cluster_id})
    session.flush()
    return edit


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: mine the knowledge gaps once."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.gaps", description=__doc__)
    parser.add_argument("--days", type=int, default=LOOKBACK_DAYS)
    parser.add_argument("--trigger", default=GapRunTrigger.CLI,
                        choices=(GapRunTrigger.CLI, GapRunTrigger.NIGHTLY, GapRunTrigger.SETUP))
    parser.add_argument("--if-never", action="store_true",
                        help="only if gaps were never mined (first `make run`)")
    args = parser.parse_args(argv)

    from crm_store.db import make_engine, make_session_factory
    from knowledge.runtime.engine import FaqEngine, IndexMissing
    from relay.settings import get_settings

    settings = get_settings()
    db = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(db)
        if args.if_never:
            with sessions() as session:
                if latest_run(session=session) is not None:
                    print("crm_store.gaps: mined before; run without --if-never to mine again")
                    return 0
        try:
            engine = FaqEngine.from_settings(settings)
        except IndexMissing as error:
            print(f"crm_store.gaps: {error}")
            return 2
        try:
            with sessions.begin() as session:
                run_id = start_run(session=session, trigger=args.trigger,
                                   actor=audit.service_actor(f"gaps-{args.trigger}")).id
        except GapRunBusy as error:
            print(f"crm_store.gaps: {error}")
            return 1
        run = finish_run(sessions=sessions, run_id=run_id, engine=engine, settings=settings,
                         days=args.days)
        print(f"crm_store.gaps: run #{run.id}: {run.questions} questions, "
              f"{run.clusters} clusters ({run.params})")
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
