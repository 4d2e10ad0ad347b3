"""Answer what the customer said from the FAQ index, in the context of the conversation.

One action for every free message outside a form — questions, follow-ups ("and on pro?"),
bare values ("my email is jo@example.com"), out-of-scope asks and noise:

* a follow-up is searched with the conversation's topic in mind, and a message with two
  questions gets both answers (knowledge/runtime/context.py);
* a bare value is acknowledged and the customer is asked what they need — never answered as
  if it were a question;
* an out-of-scope ask ("what's the weather tomorrow") gets an honest "not my field" unless the
  FAQ has a clear match; noise gets "didn't catch that"; neither counts as a failed turn;
* an angry or disputing message goes to the complaint handler (actions/complaints.py).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.forms import question_shaped
from actions.identify import EMAIL_IN_TEXT
from actions.languages import faq_for, language_of, say_answer
from actions.profile import looks_like_street_address
from actions.runtime import services
from actions.tone import ASKED_FOR_PERSON, asks_for_person, declines_person, tone_of
from relay import responses

if TYPE_CHECKING:
    from knowledge.runtime.engine import Decision, FaqEngine, Hit

# After this many unanswered turns in a row the conversation goes to a person unasked.
MAX_FAILED_TURNS = 2
# An out-of-scope ask is answered only when an entry matches it this closely (cosine).
OUT_OF_SCOPE_MIN_SIMILARITY = 0.6
OUT_OF_SCOPE_MIN_CONFIDENCE = 0.6
_LETTERS = re.compile(r"[^\W\d_]{2,}")
_PHONE = re.compile(r"^\s*(?:\+|00)?[\d\s().\-/]{7,}\s*$")
_NUMBER_OR_DATE = re.compile(r"^(?=\D*\d)\s*[\d\s.,:/\-]+\s*$")  # a digit at least
# "my number is …", "my email is …": what comes after is the value.
_VALUE_OPENING = re.compile(
    r"^(?:my\s+(?:new\s+)?(?:phone\s+number|phone|mobile(?:\s+number)?|number|email(?:\s+address)?|"
    r"e-mail)\s+is|mi\s+(?:número|numero|teléfono|telefono|correo)\s+es|meine\s+(?:nummer|"
    r"telefonnummer|handynummer|e-mail(?:-adresse)?)\s+ist|mon\s+(?:numéro|email|e-mail)\s+est|"
    r"meu\s+(?:número|numero|telefone|e-mail|email)\s+é)[\s:]*",
    re.IGNORECASE)
# Thanks without words, after an answer.
THANKS_EMOJI = re.compile(r"(?:[👍👌🙏✅🙂😊😀😃👏💯]\ufe0f?[\U0001F3FB-\U0001F3FF]?\s*)+")
SHORT_STATEMENT_WORDS = 4
# "still not working", "I tried that already": the answer just given did not solve it.
_NOT_RESOLVED = re.compile(
    r"\b(?:still (?:not|doesn'?t|isn'?t|won'?t|can'?t|broken|the same|happening|failing|stuck)|"
    r"didn'?t (?:work|help|fix|solve)|doesn'?t (?:work|help)|not working|no luck|"
    r"tried (?:that|this|it|everything|already|restarting|rebooting|reinstalling)|"
    r"already (?:tried|did)|same (?:problem|issue|thing|error)|not helpful|"
    r"nothing (?:works|changed)|"
    r"that'?s not (?:it|what i asked|my question)|doesn'?t answer)\b",
    re.IGNORECASE,
)
# A price or plan question for a team ("how much for 10 users", "what would 25 of us pay?",
# "we're a team of 12, thinking about business") is a buying signal whatever the NLU called it:
# the answer comes with an offer of the sales team.
_PRICE_WORD = (r"(?:how much|cost|costs|price|prices|pricing|pay|quote|business|plan|upgrade|"
               r"buy|purchase|subscribe|sign up)")
_TEAM = (r"(?:\d+\s*(?:users?|people|seats?|of us|employees|staff|members|licen[cs]es)|"
         r"team of \d+|\d+[- ]person team)")
TEAM_PRICE = re.compile(
    rf"\b{_PRICE_WORD}\b.*\b{_TEAM}\b|\b{_TEAM}\b.*\b{_PRICE_WORD}\b", re.IGNORECASE)
OFFERED = "offered_task"  # the slot naming the task the bot just offered
VALUE_BUTTONS = [
    {"title": "Update my details", "payload": "/update_details"},
    {"title": "Check my cases", "payload": "/check_case_status"},
    {"title": "Talk to a person", "payload": "/ask_human"},
]


def last_turn(tracker: Tracker) -> list[dict[str, Any]]:
    """The events of the bot's turn before the customer's latest message, newest first."""
    events: list[dict[str, Any]] = []
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                break
            seen_user = True
        elif seen_user:
            events.append(event)
    return events


def last_bot_action(tracker: Tracker) -> str | None:
    """The bot's last action before the customer's latest message (None: it did nothing)."""
    return next((str(e.get("name")) for e in last_turn(tracker)
                 if e.get("event") == "action" and e.get("name") != "action_listen"), None)


def entries_answered_last(tracker: Tracker) -> set[str]:
    """The FAQ entries the bot's last turn answered (each answer's bot event names its entry
    in its metadata, actions/languages.say_answer)."""
    return {str(entry) for e in last_turn(tracker) if e.get("event") == "bot"
            and (entry := (e.get("metadata") or {}).get("faq_entry_id"))}


def answered_from_faq_last(tracker: Tracker) -> bool:
    """True if the bot's last turn gave an FAQ answer (action_answer_faq, or another action
    that answered: a price question put as a sales request, actions/tasks.py)."""
    return last_bot_action(tracker) == "action_answer_faq" or bool(entries_answered_last(tracker))


def offered_last_turn(tracker: Tracker) -> bool:
    """True if the offer was made in the turn just before the customer's latest message."""
    return next((e.get("value") is not None for e in last_turn(tracker)
                 if e.get("event") == "slot" and e.get("name") == OFFERED), False)


def intent_of(tracker: Tracker) -> tuple[str | None, float]:
    """The latest message's intent and its confidence."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), float(intent.get("confidence") or 0.0)


def is_noise(text: str) -> bool:
    """True for messages with no word in them: emoji, punctuation, a single letter."""
    return not _LETTERS.search(text) and not any("\u4e00" <= ch <= "\u9fff" for ch in text)


def bare_value(text: str) -> str | None:
    """'email', 'phone' or 'number' when the message is only such a value ("my number is …"
    counts), else None."""
    stripped = _VALUE_OPENING.sub("", text.strip())
    words = stripped.split()
    if EMAIL_IN_TEXT.search(stripped) and len(words) <= 5 and not stripped.endswith("?"):
        return "email"
    if _PHONE.match(stripped) and sum(ch.isdigit() for ch in stripped) >= 7:
        return "phone"
    if _NUMBER_OR_DATE.match(stripped):
        return "number"
    return None


class ActionAnswerFaq(Action):
    """Search the FAQ in context: answer (up to two questions), ask "did you mean…", or decline."""

    def name(self) -> str:
        return "action_answer_faq"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        faq = services().faq
        faq.reload_if_changed()
        text = str((tracker.latest_message or {}).get("text") or "")
        intent, confidence = intent_of(tracker)
        chosen = tracker.get_slot("faq_id") if intent == "choose_faq" else None
        if chosen and (entry := faq.entry(chosen)) is not None:
            return answer_events(dispatcher, tracker, [entry], topic=entry.matched_question)
        if text.startswith("/"):
            # A button payload that no longer means anything (an entry removed since, a detail
            # button clicked after its form ended): ask, rather than search the payload's text.
            return _acknowledge_value(dispatcher, text, "payload")
        tone = tone_of(text)
        # "fix it NOW" right after an apology insists: a person, not "did you mean".
        pressing = tone.insists and last_bot_action(tracker) == "action_handle_complaint"
        if (tone.upset or pressing) and not tracker.active_loop_name:
            return [FollowupAction("action_handle_complaint")]
        if asks_for_person(text) and not tracker.active_loop_name:
            return answer_then_person(dispatcher, tracker, text)
        return respond_to_text(dispatcher, tracker, text, intent=intent, confidence=confidence)


# The score above which the FAQ's answer is given before the handoff (as for a complaint).
SURE_BEFORE_PERSON = 0.9


def answer_then_person(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str
) -> list[EventType]:
    """A message that asks something and also asks for a person ("I forgot my password and I
    need to talk to a person"): the FAQ's answer if it is a sure one, then the handoff."""
    decision = faq_for(tracker, text).decide(text)
    if decision.kind == "answer" and decision.hits[0].score >= SURE_BEFORE_PERSON:
        say_answer(dispatcher, decision.hits[0], language_of(tracker),
                   **outcome("answered", decision))
    return [SlotSet("handoff_reason", ASKED_FOR_PERSON), FollowupAction("action_handoff")]


def respond_to_text(
    dispatcher: CollectingDispatcher, tracker: Tracker, text: str, *, intent: str | None,
    confidence: float,
) -> list[EventType]:
    """The reply to a free message outside a form (also used by the fallback, actions/recover)."""
    from knowledge.runtime.context import answer_message, joined_topics, looks_like_follow_up, torn

    if THANKS_EMOJI.fullmatch(text.strip()):
        dispatcher.utter_message(response="utter_thank")  # 👍 after an answer
        return [SlotSet("faq_id", None)]
    value = bare_value(text)
    if is_noise(text) and value is None:  # "+44 20 7946 0958" has no letters, but says a lot
        dispatcher.utter_message(response="utter_noise")
        return [SlotSet("faq_id", None)]
    if refused := declines_person(text):
        text = refused  # "no need for a person, just the price of business": the question
    from actions.greet import after_greeting  # greet answers through this module

    if rest := after_greeting(text):
        text = rest  # "hello, how much is Pro?" in Chinese: the greeting made 0.60 0.34
    from actions.support import asks_to_close_case, close_case_events

    if asks_to_close_case(text):  # "close ticket 659, it's fixed": not the account's deletion
        return close_case_events(dispatcher, tracker, text)
    if value is not None and not question_shaped(text):
        return _acknowledge_value(dispatcher, text, value)
    if did_not_help(tracker, text):
        return not_resolved_events(dispatcher, tracker)

    out_of_scope = intent == "out_of_scope" and confidence >= OUT_OF_SCOPE_MIN_CONFIDENCE
    # Something unrelated to the product is never read as a follow-up of the last question.
    # Nor is a statement that does not point back ("Dana", "next month", "around 200 a month").
    in_context = not out_of_scope and (question_shaped(text) or looks_like_follow_up(text))
    topic = tracker.get_slot("last_question") if in_context else None
    engine = faq_for(tracker, text)
    answered = answer_message(engine, text, topic)
    decision = answered[0].decision
    if out_of_scope and not (
        decision.kind == "answer"
        and (decision.hits[0].similarity or 0.0) >= OUT_OF_SCOPE_MIN_SIMILARITY
    ):
        dispatcher.utter_message(response="utter_out_of_scope", **outcome("declined", decision))
        return [SlotSet("faq_id", None), SlotSet("human_offered", False)]
    top = decision.hits[0] if decision.hits else None
    # A follow-up whose best match is the entry just answered stays on it ("can I put a
    # password on it?" → "and on free?"): no "did you mean" between it and its neighbour.
    # After a turn with two answers, either one is "just answered".
    staying = (answered[0].used_context and top is not None
               and (top.entry_id == tracker.get_slot("last_faq_id")
                    or top.entry_id in entries_answered_last(tracker)))
    ambiguous = len(answered) == 1 and torn(decision) and not staying
    if decision.kind == "answer" and not ambiguous:
        # The follow-up lands on the answer just given: its relevant part, not the same text.
        again = staying and len(answered) == 1 and answered_from_faq_last(tracker)
        events = answer_events(dispatcher, tracker, [a.decision.hits[0] for a in answered],
                               topic=joined_topics(answered),
                               scores=[a.decision.hits[0].score for a in answered],
                               again_for=(engine, text) if again else None)
        # A team's price question gets the offer of sales; a follow-up on the answer after the
        # offer ("and per year?") keeps it open, so "yes" next still reaches sales.
        offer_open = tracker.get_slot(OFFERED) == "sales" and offered_last_turn(tracker)
        if not tracker.active_loop_name and (TEAM_PRICE.search(text)
                                             or (staying and offer_open)):
            events += offer_sales(dispatcher)
        return events
    if decision.kind == "clarify" or ambiguous:
        # The two entries, then the response's own "something else" (a person).
        asked = responses.message("utter_did_you_mean", language_of(tracker))
        buttons = [
            {
                "title": hit.matched_question,
                "payload": "/choose_faq" + json.dumps({"faq_id": hit.entry_id}),
            }
            for hit in decision.hits[:2]
        ]
        dispatcher.utter_message(text=asked["text"], buttons=buttons + asked["buttons"],
                                 **outcome("clarify", decision))
        return [SlotSet("human_offered", False), SlotSet("faq_id", None)]
    if not question_shaped(text) and (len(text.split()) <= SHORT_STATEMENT_WORDS
                                      or looks_like_street_address(text)):
        # "Dana", "acme", "next month", "12 Baker Street, London NW1": a value for something,
        # not a question we failed.
        return _acknowledge_value(dispatcher, text, "value")
    return decline_events(dispatcher, tracker, decision)


def offer_sales(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Offer the sales team (a plain "yes" next turn starts the lead, actions/tasks.py)."""
    dispatcher.utter_message(response="utter_offer_sales")
    return [SlotSet(OFFERED, "sales")]


def outcome(kind: str, decision: Decision | None = None) -> dict[str, Any]:
    """Message metadata that tells the CRM what became of the question (crm_store.faq_outcomes)."""
    score = decision.hits[0].score if decision is not None and decision.hits else None
    return {"faq_outcome": kind, "faq_score": None if score is None else round(score, 4)}


def decline_events(
    dispatcher: CollectingDispatcher, tracker: Tracker, decision: Decision | None = None
) -> list[EventType]:
    """Say we don't know and offer a person; hand off after repeated failures."""
    failed = int(tracker.get_slot("failed_turns") or 0) + 1
    if last_bot_action(tracker) == DECLINED_PERSON:
        # The customer said no to a person and rephrased: offered again, not handed off.
        failed = 1
    if failed >= MAX_FAILED_TURNS:
        return [
            SlotSet("failed_turns", 0),
            SlotSet("handoff_reason", f"the assistant could not answer {failed} turns in a row"),
            FollowupAction("action_handoff"),
        ]
    dispatcher.utter_message(response="utter_not_sure", **outcome("declined", decision))
    return [SlotSet("failed_turns", failed), SlotSet("human_offered", True),
            SlotSet("faq_id", None)]


# The reply to "no" when a person was offered (bot/data/rules.yml).
DECLINED_PERSON = "utter_rephrase"


def did_not_help(tracker: Tracker, text: str) -> bool:
    """True if the message says the FAQ answer just given did not solve it ("still not
    working", "I tried restarting already")."""
    if not _NOT_RESOLVED.search(text):
        return False
    # After an answer, or after "sorry that didn't sort it out" said by the complaint handler
    # (the NLU called the first "I tried that" a complaint): the second time hands off.
    return answered_from_faq_last(tracker) or (
        last_bot_action(tracker) == "action_handle_complaint"
        and int(tracker.get_slot("failed_turns") or 0) > 0)


def not_resolved_events(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """The answer did not help: say sorry and offer a case or a person; hand off the 2nd time."""
    failed = int(tracker.get_slot("failed_turns") or 0) + 1
    topic = tracker.get_slot("last_faq_id") or "an FAQ answer"
    reason = f"the FAQ answer ({topic}) did not solve the customer's problem"
    if failed >= MAX_FAILED_TURNS:
        return [SlotSet("failed_turns", 0), SlotSet("handoff_reason", reason),
                FollowupAction("action_handoff")]
    dispatcher.utter_message(response="utter_not_resolved")
    return [SlotSet("failed_turns", failed), SlotSet("human_offered", True),
            SlotSet("handoff_reason", reason), SlotSet("faq_id", None)]


def answer_events(
    dispatcher: CollectingDispatcher, tracker: Tracker, hits: list[Hit], *, topic: str,
    scores: list[float] | None = None, again_for: tuple[FaqEngine, str] | None = None,
) -> list[EventType]:
    """Send the answers in the customer's language; remember the topic for follow-ups.
    again_for: see actions.languages.say_answer."""
    for i, hit in enumerate(hits):
        # The outcome travels in the bot event's metadata to the CRM's log (with faq_entry_id).
        score = round(scores[i], 4) if scores else 1.0  # no score: the customer chose the entry
        say_answer(dispatcher, hit, language_of(tracker), again_for=again_for,
                   faq_outcome="answered", faq_score=score)
    return [
        SlotSet("failed_turns", 0),
        SlotSet("last_faq_id", hits[-1].entry_id),
        SlotSet("last_question", topic),
        SlotSet("human_offered", False),
        SlotSet("faq_id", None),
    ]


def _acknowledge_value(dispatcher: CollectingDispatcher, text: str, kind: str) -> list[EventType]:
    """A bare value (or a stale button) outside a form: noted, and what the customer can do."""
    events: list[EventType] = [SlotSet("faq_id", None)]
    if kind == "email":
        email = EMAIL_IN_TEXT.search(text)
        shown = email.group(0).rstrip(".!?") if email else text.strip()
        dispatcher.utter_message(response="utter_noted_email", noted=shown)
        # Kept as a hint for identification; it is checked (and verified) when a task needs it.
        events.append(SlotSet("email", shown))
    else:
        dispatcher.utter_message(response="utter_noted_value")
    return events
