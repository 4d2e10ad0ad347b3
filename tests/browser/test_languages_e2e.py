"""The demo page's language switch and automatic detection, in a real browser on the real stack.

A visitor who picks "Español" is welcomed and answered in Spanish even for a message lingua
would call English ("hi"); a visitor on automatic who writes Chinese gets the Chinese answer; the
agent console shows the conversation's language.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from knowledge.build.sources import load_faq
from relay import responses
from relay.settings import ROOT
from tests.browser.test_handoff_e2e import TURN_TIMEOUT_MS, browser, say
from tests.conftest import RelayStack

__all__ = ["browser"]


def answer_in(entry_id: str, lang: str) -> str:
    """The first line of an entry's answer in a language."""
    entry = next(e for e in load_faq(ROOT / "knowledge" / "faq") if e.id == entry_id)
    return entry.answers[lang].strip().splitlines()[0][:40]


def test_the_switch_fixes_the_language(relay_stack: RelayStack, browser: Browser) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{relay_stack.api_url}/")
    page.select_option("#chat-language", "es")
    page.click(".relay-launcher")
    expect(page.locator(".relay-welcome")).to_contain_text(
        responses.text("utter_widget_welcome", "es")[:30])
    say(page, "hi")  # an English word, Spanish chosen: the choice decides
    bot = page.locator(".relay-msg--bot")
    expect(bot.last).to_contain_text(responses.text("utter_greet", "es"),
                                     timeout=TURN_TIMEOUT_MS)
    say(page, "how much is the pro plan?")  # English words, Spanish chosen: Spanish answer
    expect(bot.last).to_contain_text(answer_in("pro-price", "es"), timeout=TURN_TIMEOUT_MS)
    page.reload()  # the choice is remembered
    expect(page.locator("#chat-language")).to_have_value("es")
    context.close()


def test_automatic_detection_answers_in_the_language_written(relay_stack: RelayStack,
                                                            browser: Browser) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(f"{relay_stack.api_url}/")
    expect(page.locator("#chat-language")).to_have_value("")
    page.click(".relay-launcher")
    say(page, "如何重置密码?")
    bot = page.locator(".relay-msg--bot")
    expect(bot.last).to_contain_text(answer_in("reset-password", "zh"), timeout=TURN_TIMEOUT_MS)
    context.close()
