"""The website widget in Debian's Chromium, on the app with the fake Rasa: what customers see.

Links in answers are escaped first and only http(s) ones become links; suggestion buttons retire
once the conversation moves on; an agent's replies carry their name and a time, "joined" and
"back with the assistant" render as notices; replies that arrive while the widget is closed
count on a badge; after the handoff is resolved the customer rates it (stored in the CRM); on a
375 px phone the open chat is full screen with a 16 px input; "New chat" starts afresh; two
tabs of one browser show one conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from crm_store import support
from crm_store.models import SatisfactionRating
from tests.browser.app_server import ALEX_EMAIL, AppServer, log_in, running_app
from tests.browser.test_handoff_e2e import browser

pytestmark = [pytest.mark.browser]
__all__ = ["browser"]

LIVE_MS = 10_000
HOSTILE = ('see https://example.com/help?x=1&y=2. and <img src=x onerror="alert(1)"> '
           'javascript:alert(2) ftp://files.example.com')


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on its own database and the fake Rasa."""
    with running_app(Path(tmp_path_factory.mktemp("widget-ui"))) as server:
        yield server


def open_widget(browser: Browser, app: AppServer, width: int = 1280,
                height: int = 820) -> tuple[Page, list[str]]:
    """A customer on the demo page with the chat open; the page's errors and dialogs."""
    problems: list[str] = []
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
    page.goto(f"{app.url}/")
    page.click(".relay-launcher")
    expect(page.locator(".relay-panel")).to_be_visible()
    return page, problems


def say(page: Page, text: str) -> None:
    page.fill(".relay-input", text)
    page.click(".relay-send")


def test_links_are_escaped_then_linkified_and_old_buttons_retire(app: AppServer,
                                                                  browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    say(page, "hi")
    buttons = page.locator(".relay-msg--bot .relay-button")
    expect(buttons.first).to_be_enabled()
    say(page, HOSTILE)
    answer = page.locator(".relay-msg--bot").last
    expect(answer).to_contain_text("You said: see https://example.com/help?x=1&y=2.")
    links = answer.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/help?x=1&y=2")
    expect(links).to_have_attribute("rel", "noopener noreferrer")
    expect(links).to_have_attribute("target", "_blank")
    assert answer.locator("img").count() == 0
    expect(answer).to_contain_text('<img src=x onerror="alert(1)">')
    # The conversation moved on: the greeting's suggestions are disabled.
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_disabled()
    # Every message has a time.
    expect(answer.locator(".relay-msg-time")).to_have_text(re.compile(r"\d{1,2}:\d\d"))
    assert problems == []


def claimed_by_alex(page: Page, app: AppServer) -> tuple[str, int]:
    """The widget's conversation, after a first turn, handed off and claimed by Alex: its id
    and Alex's user id."""
    say(page, "my invoice is wrong")
    expect(page.locator(".relay-msg--bot").last).to_contain_text("You said")
    cid = page.get_attribute(".relay-widget", "data-relay-conversation")
    assert cid
    agent = app.agent_id(ALEX_EMAIL)
    with app.sessions.begin() as session:
        support.request_handoff(session=session, conversation_id=cid, actor="relay-bot",
                                reason="asked for a person", transcript="...")
        support.claim(session=session, conversation_id=cid, agent_id=agent, actor="test")
    return cid, agent


def test_agent_name_notices_unread_badge_and_rating(app: AppServer, browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    cid, agent = claimed_by_alex(page, app)
    joined = page.locator('.relay-notice[data-notice="agent-joined"]')
    expect(joined).to_contain_text("Alex from the Nimbus Drive support team", timeout=LIVE_MS)

    # Closed: a reply counts on the badge and in the title; opening clears both.
    page.click(".relay-close")
    with app.sessions.begin() as session:
        support.reply(session=session, conversation_id=cid, agent_id=agent, actor="test",
                      text="Found it: https://nimbus.example/invoices/42 is corrected.")
    expect(page.locator(".relay-badge")).to_have_text("1", timeout=LIVE_MS)
    assert page.title().startswith("(1) ")
    page.click(".relay-launcher")
    expect(page.locator(".relay-badge")).to_be_hidden()
    assert not page.title().startswith("(")
    reply = page.locator(".relay-msg--agent").last
    expect(reply.locator(".relay-msg-author")).to_contain_text("Alex")
    expect(reply.locator("a")).to_have_attribute("href", "https://nimbus.example/invoices/42")

    # Resolved: back with the assistant as a notice, then the rating.
    with app.sessions.begin() as session:
        support.hand_back(session=session, conversation_id=cid, agent_id=agent,
                          agent_name="Alex Agent", actor="test")
    expect(page.locator('.relay-notice[data-notice="bot-back"]')).to_be_visible(timeout=LIVE_MS)
    rating = page.locator(".relay-rating")
    rating.locator(".relay-rating-comment").fill("Quick and kind")
    rating.locator('.relay-star[data-score="4"]').click()
    expect(rating).to_contain_text("Thank you")
    with app.sessions() as session:
        stored = session.scalars(select(SatisfactionRating).where(
            SatisfactionRating.conversation_id == cid)).one()
        assert (stored.score, stored.comment) == (4, "Quick and kind")
    assert page.locator(".relay-msg--system").count() == 0  # notices are not bubbles
    assert problems == []


def test_a_customer_away_when_the_handoff_was_resolved_is_asked_after_a_reload(
        app: AppServer, browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    cid, agent = claimed_by_alex(page, app)
    expect(page.locator('.relay-notice[data-notice="agent-joined"]')).to_be_visible(
        timeout=LIVE_MS)
    page.goto("about:blank")  # the customer left the page
    with app.sessions.begin() as session:
        support.hand_back(session=session, conversation_id=cid, agent_id=agent,
                          agent_name="Alex Agent", actor="test")
    page.goto(f"{app.url}/")  # ...and comes back: the chat is restored, open
    expect(page.locator('.relay-notice[data-notice="bot-back"]')).to_be_visible(timeout=LIVE_MS)
    rating = page.locator(".relay-rating")
    rating.locator('.relay-star[data-score="5"]').click()
    expect(rating).to_contain_text("Thank you")
    page.reload()  # rated: not asked again
    expect(page.locator('.relay-notice[data-notice="bot-back"]')).to_be_visible(timeout=LIVE_MS)
    expect(page.locator(".relay-rating")).to_have_count(0)
    assert problems == []


def test_the_rating_asks_in_the_visitors_language(app: AppServer, browser: Browser) -> None:
    """A Spanish browser gets the rating prompt, its labels and its thanks in Spanish."""
    page = browser.new_context(locale="es-ES").new_page()
    page.goto(f"{app.url}/")
    page.click(".relay-launcher")
    cid, agent = claimed_by_alex(page, app)
    with app.sessions.begin() as session:
        support.hand_back(session=session, conversation_id=cid, agent_id=agent,
                          agent_name="Alex Agent", actor="test")
    rating = page.locator(".relay-rating")
    expect(rating).to_contain_text("¿Qué tal lo hizo nuestro equipo de soporte?",
                                   timeout=LIVE_MS)
    expect(rating.locator(".relay-stars")).to_have_attribute("aria-label", "Valora del 1 al 5")
    rating.locator('.relay-star[data-score="5"]').click()
    expect(rating).to_contain_text("¡Gracias por tu valoración!")


def test_phone_layout_full_screen_16px_input_and_new_chat(app: AppServer,
                                                          browser: Browser) -> None:
    page, problems = open_widget(browser, app, width=375, height=667)
    box = page.locator(".relay-panel").bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 375, 667)
    font = page.locator(".relay-input").evaluate("e => getComputedStyle(e).fontSize")
    assert font == "16px"
    say(page, "hello there")
    expect(page.locator(".relay-msg--bot").last).to_contain_text("You said: hello there")
    first = page.get_attribute(".relay-widget", "data-relay-conversation")
    page.click(".relay-restart")
    expect(page.locator(".relay-msg--customer")).to_have_count(0)
    second = page.get_attribute(".relay-widget", "data-relay-conversation")
    assert second != first and second and re.fullmatch(r"web-[0-9a-f]{32}", second)
    page.reload()
    assert page.get_attribute(".relay-widget", "data-relay-conversation") == second
    expect(page.locator(".relay-panel")).to_be_visible()
    assert problems == []


def test_two_tabs_of_one_browser_show_the_same_conversation(app: AppServer,
                                                           browser: Browser) -> None:
    """The conversation id is in localStorage, so both tabs are one conversation: a turn made
    in one tab is shown in the other without a reload, a click in the other answers there and
    here, and "New chat" in one starts the new conversation in both."""
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    tabs = []
    for _ in range(2):
        tab = context.new_page()
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.goto(f"{app.url}/")
        if not tabs:  # the second tab opens the chat itself: it was open in the first
            tab.click(".relay-launcher")
        expect(tab.locator(".relay-panel")).to_be_visible()
        tabs.append(tab)
    first, second = tabs
    assert (first.get_attribute(".relay-widget", "data-relay-conversation")
            == second.get_attribute(".relay-widget", "data-relay-conversation"))
    say(first, "hi")
    expect(second.locator(".relay-msg--customer").last).to_have_text(re.compile("hi$"),
                                                                      timeout=LIVE_MS)
    expect(second.locator(".relay-msg--bot").last).to_contain_text("How can I help",
                                                                   timeout=LIVE_MS)
    second.locator(".relay-msg--bot .relay-button", has_text="Pricing").last.click()
    for tab in tabs:
        expect(tab.locator(".relay-msg--customer").last).to_contain_text("Pricing",
                                                                         timeout=LIVE_MS)
        expect(tab.locator(".relay-msg--bot").last).to_contain_text("Plus costs",
                                                                    timeout=LIVE_MS)
        expect(tab.locator(".relay-msg--customer")).to_have_count(2)
    # The first tab's greeting buttons retired once the conversation moved on in the second.
    expect(first.locator(".relay-msg--bot .relay-button").first).to_be_disabled()
    first.click(".relay-restart")
    renewed = first.get_attribute(".relay-widget", "data-relay-conversation")
    expect(second.locator(".relay-widget")).to_have_attribute("data-relay-conversation",
                                                              renewed or "", timeout=LIVE_MS)
    expect(second.locator(".relay-msg--customer")).to_have_count(0)
    say(second, "after the new chat")
    expect(first.locator(".relay-msg--bot").last).to_contain_text(
        "You said: after the new chat", timeout=LIVE_MS)
    assert problems == []
    context.close()


def test_typing_shows_on_the_other_side(app: AppServer, browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    say(page, "hello")
    expect(page.locator(".relay-msg--bot").last).to_contain_text("How can I help")
    cid = page.get_attribute(".relay-widget", "data-relay-conversation")
    assert cid
    with app.sessions.begin() as session:
        support.request_handoff(session=session, conversation_id=cid, actor="relay-bot",
                                reason="asked", transcript="")
    agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(agent, app, ALEX_EMAIL)
    agent.goto(f"{app.url}/console/conversations/{cid}")
    expect(agent.locator("#customer-typing")).to_be_hidden()

    page.locator(".relay-input").press_sequentially("I have one more", delay=30)
    expect(agent.locator("#customer-typing")).to_be_visible(timeout=LIVE_MS)
    agent.locator("#reply-text").press_sequentially("Sure, go ahead", delay=30)
    expect(page.locator(".relay-agent-typing")).to_have_text("Alex is typing\u2026",
                                                             timeout=LIVE_MS)
    agent.locator("#reply-text").press("Control+Enter")
    expect(page.locator(".relay-msg--agent").last).to_contain_text("Sure, go ahead",
                                                                   timeout=LIVE_MS)
    expect(page.locator(".relay-agent-typing")).to_have_count(0)
    expect(agent.locator("#customer-typing")).to_be_hidden(timeout=LIVE_MS)
    assert problems == []


def test_a_clicked_button_is_still_shown_by_its_title_after_a_reload(app: AppServer,
                                                                     browser: Browser) -> None:
    app.rasa.database_url = app.settings.database_url  # its turns reach the CRM, as Rasa's do
    try:
        clicked_button_after_a_reload(app, browser)
    finally:
        app.rasa.database_url = ""


def clicked_button_after_a_reload(app: AppServer, browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    say(page, "hi")
    page.locator(".relay-msg--bot .relay-button", has_text="Pricing").click()
    expect(page.locator(".relay-msg--bot").last).to_have_text(re.compile("Plus costs 4.99"))
    say(page, "/etc/hosts went missing")
    expect(page.locator(".relay-msg--bot").last).to_contain_text("You said: /etc/hosts")
    shown = ["hi", "Pricing", "/etc/hosts went missing"]
    customer = page.locator(".relay-msg--customer .relay-msg-text")
    expect(customer).to_have_text(shown)
    # The restored transcript is the CRM's log, read at once: the history applies the turns
    # Rasa committed that the event path has not applied yet.
    page.reload()
    expect(customer).to_have_text(shown, timeout=LIVE_MS)  # the click as the button it was
    assert problems == []
