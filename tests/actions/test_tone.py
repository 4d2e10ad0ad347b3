"""The tone of a message: frustration, billing disputes, insistence."""

from __future__ import annotations

import pytest

from actions.tone import reason_for, tone_of


@pytest.mark.parametrize(("text", "frustrated", "dispute", "insists"), [
    ("you charged me TWICE, I want my money back NOW", False, True, True),
    ("i was double charged this month", False, True, False),
    ("this is useless", True, False, False),
    ("WHY IS SYNC BROKEN AGAIN!!", True, False, True),
    ("how do I set up SSO with the API?", False, False, False),
    ("how much is pro?", False, False, False),
    ("get me a manager", False, False, True),
])
def test_tone(text: str, frustrated: bool, dispute: bool, insists: bool) -> None:
    tone = tone_of(text)
    assert (tone.frustrated, tone.billing_dispute, tone.insists) == (frustrated, dispute, insists)


def test_the_reason_says_why_in_an_agents_words() -> None:
    assert reason_for(tone_of("you charged me TWICE, refund me NOW"), complaints=1) == (
        "billing dispute: the customer says they were charged wrongly and wants money back "
        "(insisted on a person)")
    assert reason_for(tone_of("this is useless"), complaints=2) == "repeated complaints"
