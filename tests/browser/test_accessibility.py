"""axe-core on Relay's own pages in Debian's Chromium: no serious or critical WCAG 2.1 A/AA
violation on the demo page with the widget open (desktop and a 375 px phone), in the widget after
replies with suggestion buttons, with an agent's reply, notices and the rating, closed with an
unread badge; on the console's login, queue (and search), open conversation (with the customer
record, a lead and a case), Insights (on three months of demo traffic) and canned replies pages.
First, that the check itself runs under Relay's Content-Security-Policy and names what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from crm_store import cases, customers, demo_history, leads, support
from tests.browser.accessibility import assert_accessible, report, violations
from tests.browser.app_server import ADMIN_EMAIL, ALEX_EMAIL, AppServer, running_app
from tests.browser.test_console_live import agent_page
from tests.browser.test_handoff_e2e import browser
from tests.browser.test_widget_ui import claimed_by_alex, open_widget, say

pytestmark = [pytest.mark.browser]
__all__ = ["browser"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on its own database and the fake Rasa."""
    with running_app(Path(tmp_path_factory.mktemp("accessibility"))) as server:
        yield server


def test_the_check_runs_under_the_pages_csp_and_names_what_to_fix(app: AppServer,
                                                                  browser: Browser) -> None:
    page = browser.new_context().new_page()
    response = page.goto(f"{app.url}/console/login")
    assert response is not None and "script-src 'self'" in response.headers[
        "content-security-policy"]
    page.evaluate("""() => document.querySelector("main, body").insertAdjacentHTML("beforeend",
        '<p id="faint" style="color:#bbb;background:#fff">faint</p>' +
        '<button id="nameless"></button>')""")
    found = {v["id"]: v for v in violations(page)}
    assert {"color-contrast", "button-name"} <= found.keys()
    text = report(list(found.values()))
    assert "color-contrast (serious)" in text and "button-name (critical)" in text
    assert "#faint" in text and "#nameless" in text
    assert "https://dequeuniversity.com/rules/axe/" in text


@pytest.mark.parametrize(("width", "height"), [(1280, 820), (375, 667)])
def test_demo_page_with_the_widget_open(app: AppServer, browser: Browser, width: int,
                                        height: int) -> None:
    page, problems = open_widget(browser, app, width=width, height=height)
    assert_accessible(page, f"the demo page with the widget open at {width}px")
    assert problems == []


def test_widget_after_a_reply_with_buttons(app: AppServer, browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    say(page, "hi")
    expect(page.locator(".relay-msg--bot .relay-button").first).to_be_enabled()
    say(page, "and another thing")  # the first buttons retire (disabled ones are checked too)
    expect(page.locator(".relay-msg--bot").last).to_contain_text("You said")
    say(page, "hi")
    expect(page.locator(".relay-msg--bot").last.locator(".relay-button").first).to_be_enabled()
    assert_accessible(page, "the widget after replies with suggestion buttons")
    assert problems == []


def test_widget_with_an_agent_a_closed_badge_and_the_rating(app: AppServer,
                                                             browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    cid, agent = claimed_by_alex(page, app)
    expect(page.locator('.relay-notice[data-notice="agent-joined"]')).to_be_visible(
        timeout=10_000)
    page.click(".relay-close")
    with app.sessions.begin() as session:
        support.reply(session=session, conversation_id=cid, agent_id=agent, actor="test",
                      text="Found it: https://nimbus.example/invoices/42 is corrected.")
    expect(page.locator(".relay-badge")).to_have_text("1", timeout=10_000)
    assert_accessible(page, "the demo page with the widget closed and an unread reply")
    page.click(".relay-launcher")
    with app.sessions.begin() as session:
        support.hand_back(session=session, conversation_id=cid, agent_id=agent,
                          agent_name="Alex Agent", actor="test")
    expect(page.locator(".relay-rating")).to_be_visible(timeout=10_000)
    assert_accessible(page, "the widget with an agent's reply, notices and the rating")
    assert problems == []


def test_console_login(app: AppServer, browser: Browser) -> None:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{app.url}/console/login")
    assert_accessible(page, "the console login page")
    page.fill("input[name=email]", ALEX_EMAIL)
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    expect(page.locator("body")).to_contain_text("password")
    assert_accessible(page, "the console login page after a failed login")


def test_console_queue(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    page = agent_page(browser, app, ALEX_EMAIL, errors)
    cid = app.handoff(text="My sync has stopped", customer=True)
    expect(page.locator(f'#queue tr[data-id="{cid}"]')).to_be_visible(timeout=10_000)
    assert_accessible(page, "the console queue")
    page.fill("#search", "Dana Ruiz")
    page.keyboard.press("Enter")
    expect(page.locator("#found-customers")).to_contain_text("Dana Ruiz")
    assert_accessible(page, "the console queue with search results")
    assert errors == []


def test_console_conversation_with_the_customer_record(app: AppServer,
                                                       browser: Browser) -> None:
    errors: list[str] = []
    page = agent_page(browser, app, ALEX_EMAIL, errors)
    cid = app.handoff(customer=True)
    with app.sessions.begin() as session:
        customer_id = customers.search(session=session, query=cid[-8:])[0][0].id
        leads.open_or_update_lead(session=session, customer_id=customer_id, changed_by="test",
                                  interest="Business plan")
        cases.open_case(session=session, actor="test", subject="Refund question",
                        customer_id=customer_id)
    page.goto(f"{app.url}/console/conversations/{cid}")
    expect(page.locator("#record")).to_be_visible()
    assert_accessible(page, "an open conversation waiting for a person")
    page.keyboard.press("c")
    expect(page.locator("#reply-form")).to_be_visible(timeout=10_000)
    page.fill("#reply-text", "Hello Dana")
    page.locator("#reply-text").press("Control+Enter")
    expect(page.locator("#transcript li.msg-agent").last).to_contain_text("Hello Dana",
                                                                          timeout=10_000)
    assert_accessible(page, "an open conversation claimed by the agent")
    assert errors == []


def test_console_insights_and_canned_replies(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    with app.sessions.begin() as session:  # three months of traffic: every figure drawn
        demo_history.seed_history(session=session, settings=app.settings, actor="service:seed")
    page = agent_page(browser, app, ADMIN_EMAIL, errors)
    page.goto(f"{app.url}/console/insights")
    expect(page.locator("#insights")).to_have_attribute("data-loaded", "yes", timeout=30_000)
    expect(page.locator("#heatmap table.heat td").first).to_be_visible()
    assert_accessible(page, "the Insights page")
    page.goto(f"{app.url}/console/canned")
    page.fill("#canned-new input[name=title]", "Thanks for waiting")
    page.fill("#canned-new textarea[name=body]", "Hi {{customer.first_name}}, thanks.")
    page.click("#canned-new button[type=submit]")
    expect(page.locator("#canned-list input[name=title]")).to_have_value("Thanks for waiting")
    assert_accessible(page, "the canned replies page")
    assert errors == []
