"""What the task forms share: the slots each task collects, cleared when a task is abandoned."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.faq import (
    OFFERED,
    TEAM_PRICE,
    answer_events,
    answered_from_faq_last,
    offer_sales,
    offered_last_turn,
)
from actions.forms import question_shaped
from actions.identify import verified_identity
from actions.languages import faq_for, language_of
from actions.profile import names_email, tell_how_to_change_email
from actions.support import asks_to_close_case, close_case_events
from actions.tone import declines_person
from relay import languages

TASK_SLOTS = ("detail_field", "phone", "address", "confirm_details", "lead_interest",
              "company_size", "company", "budget", "timeline", "problem_description",
              "pending_task", "form_cancelled", "form_escalated", "verification_code")
# Half-given identity (an email without a name yet) is dropped; a finished identification stays.
IDENTITY_SLOTS = ("email", "customer_name")


class ActionClearTask(Action):
    """Forget the answers of an abandoned form ("stop", or a handoff) so a new start asks again."""

    def name(self) -> str:
        return "action_clear_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        slots = TASK_SLOTS if tracker.get_slot("identified") else (*TASK_SLOTS, *IDENTITY_SLOTS)
        return [SlotSet(slot, None) for slot in slots
                if tracker.get_slot(slot) not in (None, False)]


# A task start this sure is taken as one even right after an answer ("I want a demo").
SURE_TASK_START = 0.95
SURE_FOLLOW_UP = 0.9
# A price question phrased as a sales request is answered when the FAQ is at least this sure;
# when the NLU is sure it is a sales request, the FAQ must be sure too.
PRICE_ANSWER = 0.4
SURE_PRICE_ANSWER = 0.8
# Outside English the NLU has a few dozen examples per task, and a question about the account
# ("¿Puedo cambiar el correo electrónico de mi cuenta?": update_details at 0.9998) reads as the
# task to it, however sure it says it is: a question the FAQ answers at least this surely is
# answered instead (docs/multilingual.md, langbench's misses). Per task: "Kann ich meine
# Telefonnummer ändern?" is the email entry at 0.74, so a details change needs more; asking
# about one's cases is the task itself unless the NLU hesitates.
QUESTION_NOT_TASK = {"update_details": 0.85, "request_sales": 0.6, "report_problem": 0.6,
                     "check_case_status": 0.7}


def verification_events(tracker: Tracker) -> list[EventType]:
    """The verified slot (and who it is) as the CRM has it now: a code typed in an earlier
    conversation on this chat, or the website's signed identity, counts; a slot alone never."""
    known = verified_identity(tracker)
    if known is None:
        return [SlotSet("verified", False)]
    customer_id, name, email = known
    return [SlotSet("verified", True), SlotSet("identified", True),
            SlotSet("customer_id", customer_id), SlotSet("customer_name", name),
            SlotSet("email", email)]


class ActionStartTask(Action):
    """Let a task start — unless the message is really a question the FAQ answers.

    First the verified slot is set from the CRM (the rules then choose between the task and
    identify_form, bot/data/rules_tasks.yml).

    Three cases read as task starts to the NLU but are questions a person would just answer:
    a follow-up right after an answer ("and for 20 people?" after the Business price), a
    price question phrased like a sales request ("how much for 10 users?"), and, outside
    English, a question about the account ("¿Puedo cambiar el correo de mi cuenta?"). When the
    message points back (knowledge.runtime.context) and the FAQ answers it surely in context,
    or it is a question-shaped sales request the FAQ answers, or a non-English question the FAQ
    answers surely, the task is not started: the answer is given here (with an offer of sales
    for the price question) and the turn ends.
    """

    def name(self) -> str:
        return "action_start_task"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        from knowledge.runtime.context import (
            decide_in_context,
            joined_topics,
            looks_like_follow_up,
        )

        verified = verification_events(tracker)
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        intent = (message.get("intent") or {}).get("name")
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        if text.startswith("/"):
            return verified  # a button
        if asks_to_close_case(text):
            # "please close case 2, it's fixed" reads as a problem report (or a status check)
            # to the NLU, and opened a new case with that text.
            return [*verified, *close_case_events(dispatcher, tracker, text),
                    FollowupAction("action_listen")]
        if intent == "update_details" and names_email(text) and tell_how_to_change_email(
                dispatcher, tracker, text):
            # "I'd like to update my email to …": the login email is changed in the settings;
            # verifying them first only to offer the phone or the address would be a detour.
            return [*verified, SlotSet("pending_task", None), FollowupAction("action_listen")]
        if refused := declines_person(text):
            text = refused  # "não quero falar com uma pessoa, só quero saber o preço…"
        foreign_question = (intent in QUESTION_NOT_TASK and question_shaped(text)
                            and language_of(tracker) != languages.DEFAULT
                            and (intent != "check_case_status" or confidence < SURE_TASK_START))
        # A question put as a sales request ("does it work with Salesforce?", "we're 12, what
        # would business cost?") is answered when the FAQ knows it, however sure the NLU is.
        price_question = intent == "request_sales" and (question_shaped(text) or bool(refused))
        if confidence >= SURE_TASK_START and not (foreign_question or price_question):
            return verified  # said plainly
        previous = tracker.get_slot("last_question")
        follow_up = bool(previous) and looks_like_follow_up(text) and answered_from_faq_last(
            tracker)
        if not (follow_up or price_question or foreign_question):
            return verified
        answered = decide_in_context(faq_for(tracker, text), text, previous if follow_up else None)
        decision = answered.decision
        needed = (SURE_FOLLOW_UP if follow_up
                  else PRICE_ANSWER if price_question and (confidence < SURE_TASK_START
                                                           or TEAM_PRICE.search(text))
                  else SURE_PRICE_ANSWER if price_question
                  else QUESTION_NOT_TASK.get(str(intent), 1.0))
        if not (decision.kind == "answer" and decision.hits[0].score >= needed):
            return verified
        top = decision.hits[0]
        events = answer_events(dispatcher, tracker, [top], topic=joined_topics([answered]),
                               scores=[top.score])
        if price_question and not follow_up:
            events += offer_sales(dispatcher)
        return [*verified, SlotSet("pending_task", None), *events, FollowupAction("action_listen")]


class ActionAcceptOffer(Action):
    """A plain "yes": start the task the bot just offered, if it offered one."""

    def name(self) -> str:
        return "action_accept_offer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot(OFFERED) != "sales" or not offered_last_turn(tracker):
            dispatcher.utter_message(response="utter_anything_else")
            return [SlotSet(OFFERED, None)]
        form = "lead_form" if tracker.get_slot("identified") else "identify_form"
        return [SlotSet(OFFERED, None), SlotSet("pending_task", "sales"), FollowupAction(form)]
