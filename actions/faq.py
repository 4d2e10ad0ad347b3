"""Answer a customer's question from the FAQ index."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import services

# After this many unanswered turns in a row the conversation goes to a person unasked.
MAX_FAILED_TURNS = 2


class ActionAnswerFaq(Action):
    """Search the FAQ index: answer, ask "did you mean…", or decline and offer a person."""

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        faq = services().faq
        faq.reload_if_changed()
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        chosen = tracker.get_slot("faq_id") if intent == "choose_faq" else None
        if chosen and (entry := faq.entry(chosen)) is not None:
            return _answer(dispatcher, entry.entry_id, entry.answer)

        decision = faq.decide(message.get("text") or "")
        if decision.kind == "answer":
            top = decision.hits[0]
            return _answer(dispatcher, top.entry_id, top.answer)
        if decision.kind == "clarify":
            buttons = [
                {
                    "title": hit.matched_question,
                    "payload": "/choose_faq" + json.dumps({"faq_id": hit.entry_id}),
                }
                for hit in decision.hits[:2]
            ]
            buttons.append({"title": "Something else", "payload": "/ask_human"})
            dispatcher.utter_message(text="Did you mean one of these?", buttons=buttons)
            return [SlotSet("human_offered", False), SlotSet("faq_id", None)]

        failed = int(tracker.get_slot("failed_turns") or 0) + 1
        if failed >= MAX_FAILED_TURNS:
            return [
                SlotSet("failed_turns", 0),
                SlotSet(
                    "handoff_reason", f"the assistant could not answer {failed} turns in a row"
                ),
                FollowupAction("action_handoff"),
            ]
        dispatcher.utter_message(response="utter_not_sure")
        return [
            SlotSet("failed_turns", failed),
            SlotSet("human_offered", True),
            SlotSet("faq_id", None),
        ]


def _answer(dispatcher: CollectingDispatcher, entry_id: str, answer: str) -> list[EventType]:
    # faq_entry_id travels in the bot event's metadata to the CRM's interaction log.
    dispatcher.utter_message(text=answer, faq_entry_id=entry_id)
    return [
        SlotSet("failed_turns", 0),
        SlotSet("last_faq_id", entry_id),
        SlotSet("human_offered", False),
        SlotSet("faq_id", None),
    ]
