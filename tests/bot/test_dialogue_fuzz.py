"""Randomized conversations against the real stack: every turn is answered, whatever is said.

Hypothesis draws conversations of 8 to 14 messages from every kind customers send (questions,
follow-ups, bare values, small talk, yes/no, noise and payloads, other languages, task
starters, stop/cancel, complaints, requests for a person, verification codes — wrong ones, as
the fuzz never reads the mail — and "resend": kinds.py), one in four from a visitor the website
signed in (its HMAC, as the widget sends it), sends them through the widget gateway to the real
Rasa and action server, and checks on every turn:

* while the bot owns the conversation: 1 to 3 replies, never the same text twice in a turn;
* while a person owns it (after a handoff): no bot reply at all — except that a customer still
  waiting in the queue who backs out ("never mind") is told so and has the bot again;
* asking for a person works from anywhere (mid-form included): the conversation is handed off;
* the agent resolving it gives the conversation back to the bot, which answers again;
* at the end, Rasa never ran 10 actions in a turn (its circuit breaker) — none of its trackers
  even comes close.

RELAY_FUZZ_CONVERSATIONS (default 300) sets how many; RELAY_FUZZ_SEED picks another sample.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from bot.channels.backing_out import backs_out
from relay import responses
from relay.users import ConsoleAgent, Customer, longest_action_run, tracker_events
from tests.bot.kinds import conversation
from tests.conftest import RelayStack

pytestmark = pytest.mark.integration

CONVERSATIONS = int(os.environ.get("RELAY_FUZZ_CONVERSATIONS", "300"))
SEED = int(os.environ.get("RELAY_FUZZ_SEED", "20261201"))
# Rasa's circuit breaker trips at 10 actions in a turn; the longest legitimate chain is
# identify_form → action_identify_customer → the task's form (with its validation).
MAX_ACTIONS_PER_TURN = 5
# In the conversation's language, which the fuzz's other-language messages may have changed.
WITHDRAWN = set(responses.translations("utter_handoff_withdrawn").values())


@pytest.fixture(scope="module")
def agent(relay_stack: RelayStack) -> Iterator[ConsoleAgent]:
    """The demo agent, logged into the console."""
    settings = relay_stack.settings
    console = ConsoleAgent(relay_stack.api_url, settings.demo_agent_email,
                           settings.demo_agent_password)
    yield console
    console.close()


@pytest.fixture(scope="module")
def rasa_log_start(relay_stack: RelayStack) -> int:
    """Where Rasa's log stood before the fuzzing, to look for circuit-breaker trips after."""
    path = relay_stack.settings.data_dir / "logs" / "rasa.log"
    return path.stat().st_size if path.exists() else 0


@seed(SEED)
@settings(max_examples=CONVERSATIONS, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(messages=conversation(), signed_in=st.sampled_from([False, False, False, True]))
def test_every_turn_of_a_random_conversation_is_answered(
    relay_stack: RelayStack, agent: ConsoleAgent, rasa_log_start: int,
    messages: list[tuple[str, str]], signed_in: bool,
) -> None:
    customer = Customer(relay_stack.api_url)
    try:
        if signed_in:  # a visitor the website vouches for (its HMAC), as the widget sends it
            user_id = f"fuzz-{customer.conversation_id[-12:]}"
            assert customer.sign_in(user_id, relay_stack.signed(user_id)).status_code == 200
        for number, (kind, text) in enumerate(messages, start=1):
            before = customer.status()
            turn = customer.say(text)
            where = f"turn {number} ({kind}) {text!r} → {turn.texts}"
            if before == "bot" and not turn.replies:
                # The handoff of the turn before may reach the CRM a moment after its reply
                # (Rasa's pause comes through the event path): silence is right only if a
                # person owns the conversation by now.
                before = settled_status(customer)
            if before == "handoff" and backs_out(text):
                # Waiting in the queue, the customer no longer needs a person: the notice,
                # and the bot has the conversation again (bot/channels/backing_out.py).
                assert len(turn.replies) == 1 and turn.texts[0] in WITHDRAWN, where
                assert customer.status() == "bot", f"backing out did not withdraw: {where}"
                continue
            if before != "bot":
                assert turn.replies == [], f"the bot spoke while a person owns it: {where}"
                agent.resolve(customer.conversation_id)
                assert customer.status() == "bot", f"resolve did not hand back: {where}"
                continue
            assert 1 <= len(turn.replies) <= 3, f"{len(turn.replies)} replies: {where}"
            assert len(set(turn.texts)) == len(turn.texts), f"a reply repeated: {where}"
            if kind == "human":
                assert customer.status() != "bot", f"asking for a person did not hand off: {where}"
        events = tracker_events(relay_stack.rasa_url, relay_stack.settings.rasa_token,
                                customer.conversation_id)
        assert longest_action_run(events) <= MAX_ACTIONS_PER_TURN
    finally:
        customer.close()


def settled_status(customer: Customer, seconds: float = 10.0) -> str:
    """The conversation's status once it is no longer "bot", or "bot" after `seconds`."""
    deadline = time.monotonic() + seconds
    status = customer.status()
    while status == "bot" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = customer.status()
    return status


def test_rasa_never_tripped_its_circuit_breaker(
    relay_stack: RelayStack, rasa_log_start: int
) -> None:
    """Runs after the fuzzing (file order): Rasa's log has no circuit-breaker trip in it."""
    path = relay_stack.settings.data_dir / "logs" / "rasa.log"
    with path.open("rb") as log:
        log.seek(rasa_log_start)
        assert b"Circuit breaker tripped" not in log.read()
