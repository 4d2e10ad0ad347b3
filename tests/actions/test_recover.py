"""The dialogue's fallback cannot loop: it ends every turn, and says nothing twice."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.recover import ActionRecover
from tests.actions.conftest import tracker

LISTEN = FollowupAction("action_listen")


def _after(*events: dict[str, Any], active_loop: str | None = None,
           slots: dict[str, Any] | None = None, intent: str = "greet",
           text: str = "hi") -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
              "metadata": {}}
    return Tracker.from_dict({
        "sender_id": "web-x", "slots": dict(slots or {}), "latest_message": latest,
        "events": [{"event": "action", "name": "action_listen"},
                   {"event": "user", "text": text, "parse_data": latest}, *events],
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    })


async def _run(t: Tracker, domain: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = await ActionRecover().run(dispatcher, t, domain)
    return dispatcher.messages, events


async def test_silent_when_the_bot_already_answered_this_turn(domain: dict[str, Any]) -> None:
    messages, events = await _run(
        _after({"event": "action", "name": "action_answer_faq"},
               {"event": "bot", "text": "Pro costs $8 per user per month."}), domain)
    assert messages == [] and events == [LISTEN]


async def test_answers_once_and_listens(domain: dict[str, Any]) -> None:
    messages, events = await _run(_after(intent="greet", text="hello"), domain)
    assert [m["response"] for m in messages] == ["utter_greet"]
    assert events[-1] == LISTEN


async def test_inside_a_form_it_responds_and_asks_the_question_again(
    domain: dict[str, Any]
) -> None:
    messages, events = await _run(
        _after({"event": "action", "name": "lead_form"}, active_loop="lead_form",
               slots={"requested_slot": "budget"}, intent="thank", text="thanks"), domain)
    assert [m.get("text") or m.get("response") for m in messages] == [
        "utter_in_form_thank", "utter_ask_budget"]
    assert events[-1] == LISTEN


async def test_a_request_for_a_person_is_never_lost(domain: dict[str, Any]) -> None:
    _, events = await _run(_after(intent="ask_human", text="agent"), domain)
    assert events == [FollowupAction("action_handoff")]


@pytest.mark.usefixtures("sessions")
async def test_an_upset_customer_goes_to_the_complaint_handler(domain: dict[str, Any]) -> None:
    _, events = await _run(tracker(text="you charged me TWICE!!", intent="nlu_fallback"), domain)
    assert events == [FollowupAction("action_handle_complaint")]
