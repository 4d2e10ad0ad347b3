"""The Insights page in a real browser against the real stack (Rasa, actions, API).

A manager walks the page on three months of demo traffic; re-mines the knowledge gaps; turns
the "are you hiring" cluster into a new FAQ entry with the agent's answer; a customer then asks
the bot on the website widget and gets that answer (the action server reloaded the rebuilt
index by itself); the manager filters the customers by segment. An agent opens a handed-off
conversation and puts a suggested FAQ answer into the reply box. Screenshots go to
docs/screenshots/ with RELAY_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from crm_store import conversations, demo_history
from relay.settings import ROOT
from tests.browser.test_handoff_e2e import (
    SCREENSHOTS,
    TURN_TIMEOUT_MS,
    answer_of,
    browser,
    say,
)
from tests.conftest import RelayStack, _running_stack

pytestmark = [pytest.mark.integration, pytest.mark.browser]
__all__ = ["browser"]

# Worded so that Rasa sends it to the FAQ search ("are you …?" reads as "are you a bot?").
ASKED = "How can I apply for a job at Nimbus?"
CAREERS_ANSWER = "Yes, we are hiring!"


@pytest.fixture(scope="module")
def insight_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayStack]:
    """The real stack on its own copy of the FAQ and index (the test writes to them), with
    three months of demo traffic."""
    work = tmp_path_factory.mktemp("insight-stack")
    if not (ROOT / "var" / "index" / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "knowledge.build"], cwd=ROOT, check=True)
    shutil.copytree(ROOT / "knowledge" / "faq", work / "faq")
    shutil.copytree(ROOT / "var" / "index", work / "index")
    if (ROOT / "var" / "index-cache").exists():
        shutil.copytree(ROOT / "var" / "index-cache", work / "index-cache")
    with _running_stack(work / "data", faq_paths=[work / "faq"],
                        index_dir=work / "index") as stack:
        with stack.sessions.begin() as session:
            demo_history.seed_history(session=session, settings=stack.settings,
                                      actor="service:seed")
        yield stack


def log_in(page: Page, stack: RelayStack, email: str, next_path: str) -> None:
    page.goto(f"{stack.api_url}/console/login?next={next_path}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", stack.settings.demo_agent_password)
    page.click("button[type=submit]")


def test_insights_gaps_to_answers_and_segments(insight_stack: RelayStack,
                                               browser: Browser) -> None:
    stack = insight_stack
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # Before: the bot cannot answer the question (it offers a person instead).
    before = " ".join(r.get("text", "") for r in stack.say("rest-before-gap", ASKED))
    assert CAREERS_ANSWER not in before

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, stack, demo_history.MANAGER_EMAIL, "/console/insights")
    expect(page).to_have_url(re.compile(r"/console/insights"))
    expect(page.locator("#insights")).to_have_attribute("data-loaded", "yes", timeout=30_000)
    # Every chart drew and every team table has rows.
    for chart in ("conversations", "containment", "outcomes", "entries", "agents", "queue",
                  "funnel", "sources"):
        box = page.locator(f"#chart-{chart}").bounding_box()
        assert box and box["height"] > 100, chart
    expect(page.locator("#heatmap table.heat td").first).to_be_visible()
    for figure in ("containment", "faq-outcomes", "faq-entries", "agents", "lead-funnel"):
        assert page.locator(f'[data-figure="{figure}"] tbody tr').count() > 0, figure
    expect(page.locator('[data-kpi="containment"] .kpi-value')).to_contain_text("%")
    page.screenshot(path=str(SCREENSHOTS / "insights.png"))

    # Another channel: the page reloads its figures for it.
    page.select_option("#filter-channel", "telegram")
    page.click("#filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"channel=telegram"))
    expect(page.locator('[data-figure="containment"] tbody tr').first).to_contain_text("telegram")

    # Knowledge gaps: mine now, find the hiring questions, make them an entry.
    page.click("#gaps-rerun")
    expect(page.locator("#gaps-run")).to_contain_text("mined", timeout=120_000)
    assert page.locator("#insights-error").is_hidden(), page.locator("#insights-error").inner_text()
    card = page.locator(".gap", has_text="job openings").first
    expect(card).to_be_visible()
    expect(card.locator(".gap-agent")).to_contain_text(CAREERS_ANSWER)
    card.locator(".gap-new").click()
    form = card.locator(".gap-form")
    expect(form.locator("textarea[name=answer]")).to_have_value(re.compile(CAREERS_ANSWER))
    # The manager adds the way they expect people to ask it.
    form.locator("textarea[name=questions]").fill(
        form.locator("textarea[name=questions]").input_value() + f"\n{ASKED}")
    form.locator("input[name=entry_id]").fill("careers")
    page.locator("#gaps").screenshot(path=str(SCREENSHOTS / "insights-gaps.png"))
    form.locator("button[type=submit]").click()
    expect(card.locator(".gap-result")).to_contain_text("answers it from now on",
                                                        timeout=60_000)
    assert (Path(stack.settings.faq_paths[0]) / "learned.yml").read_text().count("id: careers")

    # A customer asks on the website: the running action server answers from the new entry.
    customer = browser.new_context(viewport={"width": 1280, "height": 820}).new_page()
    customer.goto(f"{stack.api_url}/")
    customer.click(".relay-launcher")
    say(customer, ASKED)
    expect(customer.locator(".relay-msg--bot").last).to_contain_text(CAREERS_ANSWER,
                                                                     timeout=TURN_TIMEOUT_MS)
    customer.screenshot(path=str(SCREENSHOTS / "widget-learned-answer.png"))

    # Segments: the scatter is drawn; the filter narrows the customer list.
    segments = page.locator("#segments")
    segments.scroll_into_view_if_needed()
    assert (page.locator("#chart-segments").bounding_box() or {}).get("height", 0) > 100
    page.select_option("#segment-select", "at risk")
    table = page.locator("#segment-customers")
    expect(table).to_have_attribute("data-segment", "at risk")
    cells = table.locator("tbody tr td:nth-child(5)")
    assert cells.count() > 0
    assert set(cells.all_inner_texts()) == {"at risk"}
    segments.screenshot(path=str(SCREENSHOTS / "insights-segments.png"))
    assert errors == [], errors
    context.close()
    customer.context.close()


def test_an_agent_puts_a_suggested_answer_into_the_reply(insight_stack: RelayStack,
                                                         browser: Browser) -> None:
    stack = insight_stack
    customer = browser.new_context(viewport={"width": 1280, "height": 820}).new_page()
    customer.goto(f"{stack.api_url}/")
    customer.click(".relay-launcher")
    conversation_id = customer.get_attribute(".relay-widget", "data-relay-conversation")
    say(customer, "I forgot my password and the reset mail never came")
    expect(customer.locator(".relay-msg--bot").last).not_to_be_empty(timeout=TURN_TIMEOUT_MS)
    say(customer, "I want to talk to a human")
    expect(customer.locator(".relay-msg--bot").last).to_contain_text("support team",
                                                                     timeout=TURN_TIMEOUT_MS)

    def status() -> str | None:
        with stack.sessions() as session:
            found = conversations.get(session=session, conversation_id=str(conversation_id))
            return found.status if found else None

    stack.wait_for(lambda: status() == "handoff", what="the conversation in handoff")
    agent = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    log_in(agent, stack, stack.settings.demo_agent_email,
           f"/console/conversations/{conversation_id}")
    panel = agent.locator("#suggestions")
    expect(panel).to_be_visible(timeout=30_000)
    first = panel.locator("li.suggestion").first
    expect(first).to_have_attribute("data-entry", "reset-password")
    first.locator("button.use").click()
    expect(agent.locator("#reply-text")).to_have_value(re.compile(
        re.escape(answer_of("reset-password"))))
    agent.screenshot(path=str(SCREENSHOTS / "console-suggestions.png"), full_page=True)
    agent.context.close()
    customer.context.close()
