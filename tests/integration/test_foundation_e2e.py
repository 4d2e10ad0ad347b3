"""Issue 2's end-to-end check against real processes: Rasa, the action server and the API.

A question phrased unlike any stored paraphrase gets its FAQ entry's answer; an unrelated
question gets the not-sure / offer-a-person reply; both turns are in the CRM, in order.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_store.models import Interaction
from knowledge.build.sources import load_faq
from relay.settings import ROOT
from tests.conftest import RelayStack, new_conversation_id

pytestmark = pytest.mark.integration

# Worded unlike every paraphrase of `reset-password` in knowledge/faq/.
UNSEEN_QUESTION = "I can't remember the password for my account, how do I get back in?"
UNRELATED_QUESTION = "What's a good recipe for banana bread?"


def _entry(entry_id: str):  # type: ignore[no-untyped-def]
    return next(e for e in load_faq(ROOT / "knowledge" / "faq") if e.id == entry_id)


def test_the_question_is_not_a_stored_paraphrase() -> None:
    stored = {q.casefold() for q in _entry("reset-password").questions}
    assert UNSEEN_QUESTION.casefold() not in stored


def test_faq_answer_decline_and_crm_log(any_stack: RelayStack) -> None:
    relay_stack = any_stack
    sender = new_conversation_id()
    entry = _entry("reset-password")

    answer = relay_stack.say(sender, UNSEEN_QUESTION)
    assert [m.get("text", "").strip() for m in answer] == [entry.answer.strip()]

    declined = relay_stack.say(sender, UNRELATED_QUESTION)
    assert len(declined) == 1
    assert "not sure" in declined[0]["text"]
    assert "Talk to a person" in [b["title"] for b in declined[0].get("buttons", [])]

    def logged() -> list[Interaction]:
        with relay_stack.sessions() as session:
            rows = session.scalars(
                select(Interaction)
                .where(Interaction.conversation_id == sender)
                .order_by(Interaction.id)
            ).all()
            return list(rows) if len(rows) >= 4 else []

    rows = relay_stack.wait_for(logged, what="four interactions in the CRM")
    assert [(r.direction, r.text.strip()) for r in rows] == [
        ("inbound", UNSEEN_QUESTION),
        ("outbound", entry.answer.strip()),
        ("inbound", UNRELATED_QUESTION),
        ("outbound", declined[0]["text"].strip()),
    ]
    assert rows[1].faq_entry_id == "reset-password"
    # What became of each question, as the FAQ action stated it (Insights reads these).
    assert (rows[0].faq_outcome, rows[2].faq_outcome) == ("answered", "declined")
    assert rows[0].faq_score is not None and rows[0].faq_score > rows[2].faq_score
    assert rows[0].intent is not None and rows[0].confidence is not None
    assert all(r.channel == "rest" for r in rows)
