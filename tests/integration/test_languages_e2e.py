"""Issue 11 as its customers would try it: Relay answers in Chinese, Spanish, German, French and
Portuguese — through the widget gateway, real Rasa, the real action server and the CRM.

Per language: a greeting is answered in it; an FAQ question gets the right entry, in the
language where the entry has a translation (zh, es) and otherwise in English with a sentence in
the customer's language that says so; asking for a person hands off; "stop" ends a task. The
CRM and the console show the conversation's language, and an agent may reply in any language.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crm_store import cases, conversations
from crm_store.support import JOINED
from knowledge.build.sources import load_faq
from relay import responses
from relay.settings import ROOT
from relay.users import ConsoleAgent, Customer
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration

# language: (greeting, [(question, entry)], a request for a person, a task, stop)
SCRIPTS: dict[str, tuple[str, list[tuple[str, str]], str, str, str]] = {
    "zh": ("你好", [("如何重置密码?", "reset-password"), ("专业版一个月多少钱？", "pro-price")],
           "我想和人工客服谈谈", "我要改地址", "取消"),
    "es": ("hola, buenos días", [("¿cuánto cuesta el plan pro?", "pro-price"),
                                 ("¿cómo restablezco mi contraseña?", "reset-password")],
           "quiero hablar con una persona", "quiero cambiar mi dirección", "cancelar"),
    "de": ("guten Tag", [("wie setze ich mein passwort zurück?", "reset-password"),
                         ("Gibt es eine App für mein Handy?", "mobile-apps")],
           "ich möchte mit einem Menschen sprechen", "ich möchte meine Adresse ändern",
           "abbrechen"),
    "fr": ("bonjour", [("comment réinitialiser mon mot de passe ?", "reset-password"),
                       ("Combien coûte l'abonnement Pro par mois ?", "pro-price")],
           "je veux parler à un humain", "je veux changer mon adresse", "annuler"),
    "pt": ("olá, tudo bem?", [("quanto custa o plano pro?", "pro-price"),
                              ("como compartilho uma pasta com outra pessoa?", "share-link")],
           "quero falar com uma pessoa", "quero mudar meu endereço", "cancelar"),
}
LANGUAGES = list(SCRIPTS)


@pytest.fixture(scope="module")
def faq() -> dict[str, Any]:
    """The demo FAQ's entries by id."""
    return {e.id: e for e in load_faq(ROOT / "knowledge" / "faq")}


@pytest.fixture
def customer(relay_stack: RelayStack) -> Iterator[Customer]:
    """A new visitor on the widget."""
    visitor = Customer(relay_stack.api_url)
    yield visitor
    visitor.close()


def language_of(stack: RelayStack, conversation_id: str) -> str | None:
    """The conversation's language as the CRM stores it (learnt from Rasa's events)."""
    def stored() -> str | None:
        with stack.sessions() as session:
            conversation = conversations.get(session=session, conversation_id=conversation_id)
            return conversation.language if conversation else None
    return stack.wait_for(stored, what=f"the language of {conversation_id} in the CRM")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_greetings_and_questions_are_answered_in_the_customers_language(
    relay_stack: RelayStack, customer: Customer, faq: dict[str, Any], lang: str
) -> None:
    greeting, questions, *_ = SCRIPTS[lang]
    assert customer.say(greeting).texts == [responses.text("utter_greet", lang)]
    assert responses.text("utter_greet", lang) != responses.text("utter_greet", None)
    for question, entry_id in questions:
        turn = customer.say(question)
        assert turn.entries == [entry_id], f"{question!r} → {turn.texts}"
        entry = faq[entry_id]
        if lang in entry.answers:
            assert turn.texts == [entry.answers[lang]]
        else:  # not translated: the English answer, and a sentence in their language says so
            assert turn.texts == [responses.text("utter_answer_untranslated", lang,
                                                 answer=entry.answer)]
    assert language_of(relay_stack, customer.conversation_id) == lang


@pytest.mark.parametrize("lang", LANGUAGES)
def test_asking_for_a_person_hands_off_and_the_console_shows_the_language(
    relay_stack: RelayStack, customer: Customer, lang: str
) -> None:
    ask = SCRIPTS[lang][2]
    turn = customer.say(ask)
    assert customer.status() == "handoff", f"{ask!r} → {turn.texts}"
    with relay_stack.sessions() as session:
        conversation = conversations.get_or_raise(session=session,
                                                  conversation_id=customer.conversation_id)
        case_id = conversation.handoff_case_id
    assert turn.texts == [responses.text("utter_handed_off", lang, case_id=case_id)]
    assert language_of(relay_stack, customer.conversation_id) == lang

    settings = relay_stack.settings
    agent = ConsoleAgent(relay_stack.api_url, settings.demo_agent_email,
                         settings.demo_agent_password)
    try:
        queue = agent.client.get("/console/api/queue").json()["queue"]
        [item] = [i for i in queue if i["id"] == customer.conversation_id]
        assert item["language"].endswith(f"({lang})")
        agent.claim(customer.conversation_id)
        agent.reply(customer.conversation_id, "您好，我是客服 — hello, ¿en qué puedo ayudarle?")
        agent.resolve(customer.conversation_id)
    finally:
        agent.close()
    said = [m["text"] for m in customer.history() if m["author"] in ("system", "agent")]
    assert said == [responses.text(JOINED, lang, name="Demo"),
                    "您好，我是客服 — hello, ¿en qué puedo ayudarle?",
                    responses.text("utter_bot_is_back", lang)]


# A customer waiting in the queue who no longer needs a person (bot/channels/backing_out.py).
BACKING_OUT = {"en": ("I want to talk to a human", "actually never mind, thanks"),
               "zh": (SCRIPTS["zh"][2], "算了，不用了"), "es": (SCRIPTS["es"][2], "olvídalo"),
               "de": (SCRIPTS["de"][2], "hat sich erledigt, danke"),
               "fr": (SCRIPTS["fr"][2], "en fait non, laisse tomber"),
               "pt": (SCRIPTS["pt"][2], "deixa pra lá")}


@pytest.mark.parametrize("lang", list(BACKING_OUT))
def test_a_waiting_customer_who_backs_out_is_answered_by_the_bot_again(
    relay_stack: RelayStack, customer: Customer, lang: str
) -> None:
    ask, back_out = BACKING_OUT[lang]
    customer.say(ask)
    assert customer.status() == "handoff"
    with relay_stack.sessions() as session:
        case_id = conversations.get_or_raise(
            session=session, conversation_id=customer.conversation_id).handoff_case_id
    turn = customer.say(back_out)
    assert turn.texts == [responses.text("utter_handoff_withdrawn", lang)]
    assert customer.status() == "bot"
    with relay_stack.sessions() as session:
        assert cases.get_or_raise(session=session, case_id=case_id).status == "closed"
    # Rasa answers again, in the customer's language.
    question, entry_id = (SCRIPTS[lang][1][0] if lang in SCRIPTS
                          else ("how do I reset my password?", "reset-password"))
    assert customer.say(question).entries == [entry_id]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_stop_ends_a_task_in_the_customers_language(customer: Customer, lang: str) -> None:
    *_, task, stop = SCRIPTS[lang]
    asked = customer.say(task)
    assert responses.text("utter_ask_email", lang) in asked.texts, asked.texts
    stopped = customer.say(stop)
    assert stopped.texts == [responses.text("utter_form_cancelled", lang)]
    assert customer.status() == "bot"
