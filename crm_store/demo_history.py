"""Three months of demo traffic for `make run`, so every Insights chart has something to show.

Agents (Sam, Priya, Jonas besides the demo agent) and a manager (manager@relay.local, the demo
password) are added, then crm_store.synthetic writes ~1,800 conversations over 90 days with the
demo FAQ's real questions and answers, questions it cannot answer (with the agents' replies),
handoffs, leads and cases; the loyalty segments are computed. Idempotent: it does nothing when
the demo traffic is already there. Development and test only.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import segments, synthetic, users
from crm_store.enums import Role
from crm_store.models import Conversation
from relay.settings import Settings

MANAGER_EMAIL = "manager@relay.local"
AGENTS = (("sam@relay.local", "Sam Rivera"), ("priya@relay.local", "Priya Nair"),
          ("jonas@relay.local", "Jonas Berg"))
SCALE = synthetic.Scale(customers=420, conversations=1800, days=90, prefix="demo",
                        email_domain="demo.example", seed=2026)


def seed_history(*, session: Session, settings: Settings, actor: str) -> list[str]:
    """Write the demo traffic once (actor: who the audit log says computed the segments);
    returns the emails of the users it ensured."""
    if settings.env not in ("development", "test"):
        return []
    from knowledge.build.sources import load_faq

    password = settings.demo_agent_password
    users.ensure_user(session=session, email=MANAGER_EMAIL, name="Morgan Lee",
                      password=password, role=Role.MANAGER)
    team = [users.ensure_user(session=session, email=email, name=name, password=password)
            for email, name in AGENTS]
    demo_agent = users.get_by_email(session=session, email=settings.demo_agent_email)
    if demo_agent is not None:
        team.append(demo_agent)
    emails = [MANAGER_EMAIL, *(email for email, _ in AGENTS)]
    if session.scalar(select(Conversation.id).where(
            Conversation.id.like(f"%{SCALE.prefix}0%")).limit(1)) is not None:
        return emails
    faq = [(e.id, e.questions, e.answer) for e in load_faq(settings.faq_paths)]
    synthetic.generate(session=session, scale=SCALE, faq=faq,
                       agents=[(u.id, u.name.split()[0]) for u in team])
    segments.recompute(session=session, actor=actor)
    return emails
