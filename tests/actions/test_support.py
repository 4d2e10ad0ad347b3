"""validate_problem_form, action_open_problem_case and action_list_cases on a real CRM database."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session, sessionmaker

from actions.support import (
    ActionListCases,
    ActionOpenProblemCase,
    ValidateProblemForm,
    subject_of,
)
from crm_store import cases, customers
from tests.actions.conftest import form_tracker, said, texts, tracker, verify

DESCRIPTION = "The desktop app on my Mac stopped syncing since yesterday's update"


def _ana(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        return customers.create(
            session=session, actor="test", email="ana@example.com", name="Ana"
        ).id


async def test_a_too_short_description_is_asked_again(domain: dict[str, Any]) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateProblemForm().run(
        dispatcher, form_tracker("problem_form", "problem_description", "it broke"), domain
    )
    assert events == [SlotSet("problem_description", None)]
    assert "a bit more" in texts(dispatcher)[0]


def test_a_long_first_line_becomes_a_shorter_subject() -> None:
    subject = subject_of("word " * 40 + "\nsecond line")
    assert len(subject) <= 81 and subject.endswith("…")
    assert subject_of(DESCRIPTION) == DESCRIPTION


async def test_a_problem_case_is_opened_with_its_number(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    ana = _ana(sessions)
    dispatcher = CollectingDispatcher()
    t = tracker(sender_id="web-s1", slots={"customer_id": ana, "email": "ana@example.com",
                                           "problem_description": DESCRIPTION,
                                           "pending_task": "report_problem"})
    events = await ActionOpenProblemCase().run(dispatcher, t, domain)
    assert events == [SlotSet("problem_description", None), SlotSet("pending_task", None),
                      SlotSet("form_cancelled", False),
                      SlotSet("form_escalated", False)]
    with sessions() as session:
        [case] = cases.list_for_customer(session=session, customer_id=ana)
        assert (case.type, case.status, case.subject, case.description, case.conversation_id) == (
            "problem", "open", DESCRIPTION, DESCRIPTION, "web-s1")
    assert texts(dispatcher, t) == [
        f"I've opened case #{case.id} for you. Our support team will look into it and reply to "
        "ana@example.com; you can ask me for the status of your cases any time."
    ]


async def test_the_customers_cases_are_listed_with_their_status(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    ana = _ana(sessions)
    with sessions.begin() as session:
        first = cases.open_case(session=session, actor="test",
                                subject="Sync stopped", type="problem",
                                customer_id=ana)
        cases.set_status(session=session, actor="test", case_id=first.id, status="resolved")
        second = cases.open_case(
            session=session, actor="test", subject="Invoice wrong", customer_id=ana
        )
        first_id, second_id = first.id, second.id
    dispatcher = CollectingDispatcher()
    events = await ActionListCases().run(dispatcher, tracker(slots={"customer_id": ana}), domain)
    assert said(dispatcher) == ["utter_not_verified"]  # the slot alone shows nothing
    verify(sessions, "rest-test", ana)
    dispatcher = CollectingDispatcher()
    events = await ActionListCases().run(dispatcher, tracker(slots={"customer_id": ana}), domain)
    assert events == [SlotSet("pending_task", None)]
    assert texts(dispatcher) == [
        "Your most recent cases:\n"
        f"• #{second_id} Invoice wrong — open\n"
        f"• #{first_id} Sync stopped — resolved"
    ]


async def test_no_cases_is_said_plainly(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    ana = _ana(sessions)
    verify(sessions, "rest-test", ana)
    dispatcher = CollectingDispatcher()
    events = await ActionListCases().run(dispatcher, tracker(slots={"customer_id": ana}), domain)
    assert events == [SlotSet("pending_task", None)]
    assert texts(dispatcher) == ["You have no support cases with us at the moment."]


async def test_cases_someone_else_opened_with_the_email_unverified_are_not_listed(
    sessions: sessionmaker[Session], domain: dict[str, Any]
) -> None:
    """Anyone may open a case by typing Ana's email; when Ana verifies, such a case's subject
    (whatever that person typed) is not shown to her as hers, only counted."""
    ana = _ana(sessions)
    verify(sessions, "rest-test", ana)
    with sessions.begin() as session:
        own = cases.open_case(session=session, actor="test", subject="Sync stopped",
                              type="problem", customer_id=ana)
        here = cases.open_case(session=session, actor="test", subject="Typed here before",
                               type="problem", customer_id=ana, unverified=True,
                               conversation_id="rest-test")
        cases.open_case(session=session, actor="test", type="problem", customer_id=ana,
                        subject="URGENT: log in at evil.example to keep your account",
                        unverified=True)
        own_id, here_id = own.id, here.id
    dispatcher = CollectingDispatcher()
    await ActionListCases().run(dispatcher, tracker(slots={"customer_id": ana}), domain)
    [listed] = texts(dispatcher)
    assert "evil.example" not in listed
    assert listed.splitlines() == [
        "Your most recent cases:", f"• #{here_id} Typed here before — open",
        f"• #{own_id} Sync stopped — open",
        "1 more were opened in other chats with your email address but without verifying it, "
        "so I don't show them here. Say 'agent' if you'd like a person to look at them."]


def _problem_form_starts(*user_turns: tuple[str, str], name: str | None = None) -> Any:
    """The tracker problem_form's validation sees when the form is activated."""
    from rasa_sdk import Tracker

    events: list[dict[str, Any]] = []
    for text, intent in user_turns:
        parse = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
        events += [{"event": "action", "name": "action_listen"},
                   {"event": "user", "text": text, "parse_data": parse}]
    events.append({"event": "action", "name": "problem_form"})
    return Tracker.from_dict({
        "sender_id": "rest-test", "slots": {"identified": True, "customer_name": name},
        "latest_message": events[-2]["parse_data"], "events": events,
        "active_loop": {"name": "problem_form"}, "latest_action_name": "problem_form"})


async def test_the_problem_said_in_the_request_is_not_asked_for_again(
    domain: dict[str, Any],
) -> None:
    """"my sync is broken, please open a support ticket" still got "Please describe the
    problem…" (found by the exploratory helper)."""
    dispatcher = CollectingDispatcher()
    events = await ValidateProblemForm().run(dispatcher, _problem_form_starts(
        ("my sync is broken, please open a support ticket", "report_problem")), domain)
    assert events == [SlotSet("problem_description", "my sync is broken")]


async def test_a_problem_described_at_the_email_prompt_is_kept(domain: dict[str, Any]) -> None:
    """The description typed when the bot asked for the email was lost, and asked for again."""
    dispatcher = CollectingDispatcher()
    events = await ValidateProblemForm().run(dispatcher, _problem_form_starts(
        ("I want to report a problem", "report_problem"),
        ("the desktop app crashes every time I open a PDF", "inform"),
        ("ana@example.com", "inform"), ("Ana Silva", "inform"), name="Ana Silva"), domain)
    assert SlotSet("problem_description",
                   "the desktop app crashes every time I open a PDF") in events


async def test_a_bare_request_to_report_a_problem_asks_for_the_description(
    domain: dict[str, Any],
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ValidateProblemForm().run(dispatcher, _problem_form_starts(
        ("I want to report a problem", "report_problem"), ("ana@example.com", "inform"),
        ("Ana", "inform"), name="Ana"), domain)
    assert events == []  # nothing filled: the form asks for the description


@pytest.mark.usefixtures("faq_services")
async def test_a_customer_closes_their_own_case_and_nobody_elses(
    sessions: sessionmaker[Session], domain: dict[str, Any],
) -> None:
    """"can you close case 657?" got the steps to delete the account (found by the exploratory
    helper). A case opened in this chat, or the verified customer's, is closed as solved;
    someone else's case number gets nothing but the sentence that says why."""
    from actions.faq import ActionAnswerFaq
    from crm_store import conversations

    ana = _ana(sessions)
    with sessions.begin() as session:
        for cid in ("rest-test", "web-other"):
            conversations.get_or_create(session=session, conversation_id=cid)
        here = cases.open_case(session=session, actor="test", subject="Sync stopped",
                               type="problem", conversation_id="rest-test")
        anas = cases.open_case(session=session, actor="test", subject="Invoice wrong",
                               customer_id=ana, conversation_id="web-other")
        here_id, anas_id = here.id, anas.id

    async def say(text: str) -> list[str | None]:
        dispatcher = CollectingDispatcher()
        await ActionAnswerFaq().run(dispatcher, tracker(text=text, intent="inform"), domain)
        return [m.get("response") for m in dispatcher.messages]

    def status(case_id: int) -> str:
        with sessions() as session:
            return cases.get_or_raise(session=session, case_id=case_id).status

    assert await say(f"please close case {anas_id}") == ["utter_close_case_unknown"]
    assert status(anas_id) == "open"  # not proved to be Ana: her case is left alone
    assert await say("the problem is solved, you can close it") == [
        "utter_case_closed_for_customer"]
    assert status(here_id) == "resolved"
    verify(sessions, "rest-test", ana)
    assert await say(f"close ticket {anas_id}, it's fixed") == ["utter_case_closed_for_customer"]
    assert status(anas_id) == "resolved"
    assert await say("close ticket 999999") == ["utter_close_case_unknown"]


@pytest.mark.usefixtures("faq_services")
@pytest.mark.parametrize("intent", ["report_problem", "check_case_status"])
async def test_asking_to_close_a_case_never_opens_one(
    sessions: sessionmaker[Session], domain: dict[str, Any], intent: str,
) -> None:
    """Tried as a verified customer: "please close case 2, it's fixed" parsed as a problem
    report, and the bot opened case #1208 with that text."""
    from actions.tasks import ActionStartTask
    from crm_store import conversations

    ana = _ana(sessions)
    verify(sessions, "rest-test", ana)
    with sessions.begin() as session:
        conversations.get_or_create(session=session, conversation_id="web-old")
        old = cases.open_case(session=session, actor="test", subject="Password reset",
                              customer_id=ana, conversation_id="web-old")
        old_id = old.id
    dispatcher = CollectingDispatcher()
    events = await ActionStartTask().run(dispatcher, tracker(
        text=f"please close case {old_id}, it's fixed", intent=intent, confidence=0.99), domain)
    assert said(dispatcher) == ["utter_case_closed_for_customer"]
    assert SlotSet("pending_task", None) in events and events[-1]["name"] == "action_listen"
    with sessions() as session:
        assert [(c.id, c.status) for c in cases.list_for_customer(
            session=session, customer_id=ana)] == [(old_id, "resolved")]


async def test_an_earlier_problem_report_is_not_this_forms_description(
    domain: dict[str, Any],
) -> None:
    """A case was opened for an earlier report; a later problem form (after an answer that did
    not help) must not take that report, or what was said since, as its description."""
    from rasa_sdk import Tracker

    tracker_ = _problem_form_starts(
        ("my sync is broken, please open a support ticket", "report_problem"),
        ("thanks, and how do I share a folder with a colleague?", "ask_question"))
    events = [*tracker_.events]
    events.insert(2, {"event": "action", "name": "action_open_problem_case"})
    dispatcher = CollectingDispatcher()
    later = Tracker.from_dict({**tracker_.current_state(), "events": events})
    assert await ValidateProblemForm().run(dispatcher, later, domain) == []
