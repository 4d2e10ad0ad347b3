"""The console as a live inbox, in Debian's Chromium: two agents at once, no reloads.

A new handoff appears in both agents' queues by itself; one claims, the other sees it claimed;
the customer's next message reaches the open transcript; a half-written reply survives a reload
and Ctrl+Enter sends it without leaving the page; the customer record is edited (a bad email
is refused with the reason, a wrong address removed, audited), a lead moved, a case re-opened;
a click on a queue row opens the conversation however busy the live queue is; a message
logged late takes its place in the open transcript; a button the customer clicked shows by
its title.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from crm_store import audit, cases, customers, interactions, leads, ratings
from crm_store.models import utcnow
from tests.browser.app_server import ADMIN_EMAIL, AppServer, log_in, running_app
from tests.browser.test_handoff_e2e import browser
from tests.crm_store.test_ratings import resolved_handoff

pytestmark = [pytest.mark.browser]
__all__ = ["browser"]

ALEX, BEA = "alex@relay.test", "bea@relay.test"
LIVE_MS = 10_000


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on its own database and the fake Rasa."""
    with running_app(Path(tmp_path_factory.mktemp("console-live"))) as server:
        yield server


def agent_page(browser: Browser, app: AppServer, email: str, errors: list[str]) -> Page:
    """A logged-in agent in a context of their own (own cookies and storage)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, app, email)
    return page


def mark_page(page: Page) -> None:
    """Set a flag that a reload would lose."""
    page.evaluate("window.__noReload = 1")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__noReload === 1"))


def test_two_agents_see_the_inbox_change_live(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    alex = agent_page(browser, app, ALEX, errors)
    bea = agent_page(browser, app, BEA, errors)
    for page in (alex, bea):
        mark_page(page)

    cid = app.handoff(text="My sync has stopped <b>working</b>")
    for page in (alex, bea):
        row = page.locator(f'#queue tr[data-id="{cid}"]')
        expect(row).to_contain_text("waiting", timeout=LIVE_MS)
        expect(row.locator(".due")).to_contain_text(re.compile(r"due in \d+:\d\d"))
        expect(row).to_contain_text("<b>working</b>")  # text, not markup
    assert int(alex.get_attribute("body", "data-handoffs-announced") or 0) >= 1

    # Alex opens it and claims with the keyboard; Bea sees it claimed without a reload.
    alex.locator(f'#queue tr[data-id="{cid}"] a').click()
    expect(alex.locator("#transcript")).to_contain_text("My sync has stopped")
    mark_page(alex)
    alex.keyboard.press("c")
    expect(alex.locator("#status")).to_have_text("agent", timeout=LIVE_MS)
    expect(alex.locator("#reply-form")).to_be_visible()
    expect(bea.locator(f'#queue tr[data-id="{cid}"]')).to_contain_text("with Alex Agent",
                                                                        timeout=LIVE_MS)
    assert not_reloaded(bea)
    # Bea's "mine" view does not list it.
    bea.click('a[data-view="mine"]')
    expect(bea.locator(f'#queue tr[data-id="{cid}"]')).to_have_count(0)
    mark_page(bea)

    # A new handoff is announced even while Alex is in a conversation.
    announced = int(alex.get_attribute("body", "data-handoffs-announced") or 0)
    app.handoff(text="Another customer")
    expect(alex.locator("body")).to_have_attribute("data-handoffs-announced",
                                                   str(announced + 1), timeout=LIVE_MS)

    # The customer writes again: the line appears in Alex's open transcript.
    app.customer_says(cid, "Still broken, any news?")
    expect(alex.locator("#transcript li.msg-customer").last).to_contain_text(
        "Still broken, any news?", timeout=LIVE_MS)

    # Alex transfers it to Bea: it appears in Bea's "mine" by itself.
    alex.select_option("#transfer-form select", label="Bea Backup")
    alex.click("#transfer-form button")
    expect(alex.locator("#assigned")).to_contain_text("with Bea Backup", timeout=LIVE_MS)
    expect(bea.locator(f'#queue tr[data-id="{cid}"]')).to_contain_text("with Bea Backup",
                                                                        timeout=LIVE_MS)
    assert not_reloaded(alex) and not_reloaded(bea)
    assert errors == []


def test_a_click_in_a_busy_queue_opens_the_conversation_every_time(app: AppServer,
                                                                    browser: Browser) -> None:
    """The queue changes all the time (here: customers writing, through the CRM) while the agent
    clicks; a row changed under a slow click (mouse-down, 250 ms, mouse-up) must still be the
    row clicked, and the keyboard focus and a text selection in the queue must survive."""
    errors: list[str] = []
    others = [app.handoff(text=f"other customer {n}") for n in range(3)]
    cid = app.handoff(text="Please help")  # the newest handoff: the first row, never pushed down
    stop = threading.Event()

    def customers_keep_writing() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            for conversation in (cid, *others):
                app.customer_says(conversation, f"still waiting ({count})")
            stop.wait(0.15)

    writer = threading.Thread(target=customers_keep_writing, daemon=True)
    writer.start()
    try:
        alex = agent_page(browser, app, ALEX, errors)
        row = alex.locator(f'#queue tr[data-id="{cid}"]')
        preview = row.locator(".preview")

        def rerendered() -> None:
            """Wait until the live queue has changed the row at least once more."""
            before = preview.inner_text()
            expect(preview).not_to_have_text(before, timeout=LIVE_MS)

        # A keyboard user on the row's link, and a reader selecting its reason, keep both.
        row.locator("a").focus()
        alex.evaluate("""id => {
            const cell = document.querySelector(`#queue tr[data-id="${id}"] td:nth-child(7)`);
            const range = document.createRange();
            range.selectNodeContents(cell);
            getSelection().removeAllRanges();
            getSelection().addRange(range);
        }""", cid)
        for _ in range(3):
            rerendered()
        assert alex.evaluate("document.activeElement.closest('tr')?.dataset.id") == cid
        assert alex.evaluate("getSelection().toString()") == "asked for a person"
        alex.keyboard.press("Enter")
        expect(alex).to_have_url(re.compile(f"/console/conversations/{cid}$"))

        lost = []
        for attempt in range(20):
            alex.goto(f"{app.url}/console/")
            rerendered()  # the live updates are flowing on this page
            row.locator("a").click(delay=250)
            try:
                expect(alex).to_have_url(re.compile(f"/console/conversations/{cid}$"),
                                         timeout=5_000)
            except AssertionError:
                lost.append(attempt)
        assert lost == [], f"{len(lost)} of 20 clicks on a changing queue row were lost"
    finally:
        stop.set()
        writer.join()
    assert errors == []


def test_a_message_logged_late_takes_its_place_in_the_open_transcript(
    app: AppServer, browser: Browser
) -> None:
    """Rasa's turn is read a little late: the customer's message reaches the CRM after the
    notice that followed it, with its own (earlier) time; the open page puts it above."""
    errors: list[str] = []
    alex = agent_page(browser, app, ALEX, errors)
    cid = app.handoff(text="My sync has stopped")
    said_at = utcnow()
    alex.goto(f"{app.url}/console/conversations/{cid}")
    mark_page(alex)
    alex.keyboard.press("c")
    expect(alex.locator("#transcript li.msg-system")).to_contain_text("has joined the chat",
                                                                      timeout=LIVE_MS)
    with app.sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="I want to talk to a person",
                            created_at=said_at)
    in_order = ["My sync has stopped", "I want to talk to a person",
                re.compile("Alex .* has joined the chat")]
    expect(alex.locator("#transcript li .text")).to_have_text(in_order, timeout=LIVE_MS)
    assert not_reloaded(alex)
    alex.reload()
    expect(alex.locator("#transcript li .text")).to_have_text(in_order)
    assert errors == []


def test_a_button_the_customer_clicks_reaches_the_open_transcript_by_its_title(
    app: AppServer, browser: Browser
) -> None:
    errors: list[str] = []
    alex = agent_page(browser, app, ALEX, errors)
    cid = app.handoff(text="My sync has stopped")
    alex.goto(f"{app.url}/console/conversations/{cid}")
    mark_page(alex)
    with app.sessions.begin() as session:
        interactions.record(session=session, conversation_id=cid, direction="outbound",
                            author="bot", text="Anything else?",
                            buttons=[{"title": "Plans and prices", "payload": "/ask_pricing"}])
        interactions.record(session=session, conversation_id=cid, direction="inbound",
                            author="customer", text="/ask_pricing")
    clicked = alex.locator("#transcript li.msg-customer .clicked")
    expect(clicked).to_have_text("Clicked “Plans and prices”", timeout=LIVE_MS)
    expect(clicked).to_have_attribute("title", "/ask_pricing")
    assert not_reloaded(alex)
    alex.reload()
    expect(clicked).to_have_text("Clicked “Plans and prices”")
    assert errors == []


def test_draft_survives_a_reload_and_ctrl_enter_sends(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    alex = agent_page(browser, app, ALEX, errors)
    cid = app.handoff()
    alex.goto(f"{app.url}/console/conversations/{cid}")
    alex.fill("#reply-text", "Half-written answer about your invoice")
    alex.reload()
    expect(alex.locator("#reply-text")).to_have_value("Half-written answer about your invoice")

    # A failed send (empty after trimming) keeps nothing from being lost either.
    mark_page(alex)
    alex.locator("#reply-text").press("Control+Enter")
    expect(alex.locator("#transcript li.msg-agent").last).to_contain_text(
        "Half-written answer about your invoice", timeout=LIVE_MS)
    expect(alex.locator("#reply-text")).to_have_value("")
    expect(alex.locator("#live-notice")).to_contain_text("Reply sent")
    assert not_reloaded(alex)
    assert alex.evaluate(f"localStorage.getItem('relay.draft.reply-text.{cid}')") is None
    expect(alex.locator("#status")).to_have_text("agent")  # replying claimed it
    with app.sessions() as session:
        rows = interactions.list_for_conversation(session=session, conversation_id=cid)
    assert [r.text for r in rows if r.author == "agent"] == [
        "Half-written answer about your invoice"]

    # Resolve with the keyboard: the actions follow the status, still without a reload.
    alex.locator("body").click()
    alex.keyboard.press("e")
    expect(alex.locator("#status")).to_have_text("bot", timeout=LIVE_MS)
    expect(alex.locator(".when-bot")).to_be_visible()
    expect(alex.locator("#reply-form")).to_be_hidden()
    assert not_reloaded(alex)
    assert errors == []


def test_search_finds_conversations_by_message_and_customer(app: AppServer,
                                                             browser: Browser) -> None:
    errors: list[str] = []
    alex = agent_page(browser, app, ALEX, errors)
    cid = app.handoff(text="the zebra-striped invoice is wrong", customer=True)
    other = app.handoff(text="something else entirely")
    alex.locator("#search").click()
    alex.keyboard.type("zebra-striped")
    alex.keyboard.press("Enter")
    expect(alex.locator(f'#queue tr[data-id="{cid}"]')).to_be_visible()
    expect(alex.locator(f'#queue tr[data-id="{other}"]')).to_have_count(0)
    alex.fill("#search", "Dana Ruiz")
    alex.keyboard.press("Enter")
    expect(alex.locator(f'#queue tr[data-id="{cid}"]')).to_be_visible()
    expect(alex.locator("#found-customers")).to_contain_text("Dana Ruiz")
    assert errors == []


def test_customer_record_edit_lead_stage_and_reopen(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    alex = agent_page(browser, app, ALEX, errors)
    cid = app.handoff(customer=True)
    with app.sessions.begin() as session:
        customer_id = customers.search(session=session, query=cid[-8:])[0][0].id
        lead, _ = leads.open_or_update_lead(session=session, customer_id=customer_id,
                                            changed_by="test", interest="Business plan")
        done = cases.open_case(session=session, actor="test", subject="Refund question",
                               customer_id=customer_id)
        cases.set_status(session=session, case_id=done.id, status="resolved", actor="test")
        lead_id, case_id = lead.id, done.id
    alex.goto(f"{app.url}/console/conversations/{cid}")
    record = alex.locator("#record")
    expect(record.locator("textarea[name=address]")).to_have_value("1 Wrong Street, Oldtown")
    mark_page(alex)

    # A bad phone number or email is refused by the CRM with the reason; nothing changes.
    record.locator("input[name=phone]").fill("12345")
    record.locator("button[type=submit]").click()
    expect(record.locator("[data-error]")).to_contain_text("not a phone number")
    record.locator("input[name=email]").fill("dana@nowhere")
    record.locator("input[name=phone]").fill("")
    record.locator("button[type=submit]").click()
    expect(record.locator("[data-error]")).to_contain_text("not a valid email address")
    with app.sessions() as session:
        assert customers.get_or_raise(session=session, customer_id=customer_id).address
    # The wrong address removed and the phone corrected.
    record.locator("input[name=email]").fill(f"dana.ruiz-{cid[-6:]}@example.com")
    record.locator("textarea[name=address]").fill("")
    record.locator("input[name=phone]").fill("+44 20 7946 0958")
    record.locator("button[type=submit]").click()
    expect(alex.locator("#live-notice")).to_contain_text("Customer record saved")
    with app.sessions() as session:
        customer = customers.get_or_raise(session=session, customer_id=customer_id)
        assert customer.address is None and customer.email == f"dana.ruiz-{cid[-6:]}@example.com"
        entries = audit.list_entries(session=session, entity="customer",
                                     entity_id=str(customer_id))
        assert any(e.actor == f"user:{app.agent_id(ALEX)}" and e.action == "update"
                   for e in entries)

    lead_item = alex.locator(f'#leads li[data-lead="{lead_id}"]')
    lead_item.locator("select").select_option("qualified")
    lead_item.locator("button[type=submit]").click()
    expect(alex.locator("#live-notice")).to_contain_text("Lead stage changed")
    case_item = alex.locator(f'#cases li[data-case="{case_id}"]')
    case_item.locator("button", has_text="Re-open").click()
    expect(case_item.locator(".case-status")).to_have_text("open")
    with app.sessions() as session:
        assert leads.get_or_raise(session=session, lead_id=lead_id).stage == "qualified"
        assert cases.get_or_raise(session=session, case_id=case_id).status == "open"
    assert not_reloaded(alex)
    assert errors == []


def test_canned_reply_with_placeholders_and_tags(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    ada = agent_page(browser, app, ADMIN_EMAIL, errors)
    ada.click("text=Canned replies")
    ada.fill("#canned-new input[name=title]", "Thanks for waiting")
    ada.fill("#canned-new textarea[name=body]",
             "Hi {{customer.first_name}}, thanks for waiting. I'm {{agent.first_name}}.")
    ada.click("#canned-new button[type=submit]")
    expect(ada.locator(".notice")).to_contain_text("Canned reply saved")
    expect(ada.locator("#canned-list input[name=title]")).to_have_value("Thanks for waiting")

    alex = agent_page(browser, app, ALEX, errors)
    cid = app.handoff(customer=True)
    alex.goto(f"{app.url}/console/conversations/{cid}")
    mark_page(alex)
    alex.fill("#reply-text", "First line.")
    alex.select_option("#canned", label="Thanks for waiting")
    expect(alex.locator("#reply-text")).to_have_value(
        "First line.\nHi Dana, thanks for waiting. I'm Alex.")
    alex.fill("#tag-add input[name=tag]", "Billing")
    alex.click("#tag-add button[type=submit]")
    expect(alex.locator("#tag-list")).to_contain_text("billing")
    alex.fill("#tag-add input[name=tag]", "vip")
    alex.keyboard.press("Enter")
    expect(alex.locator("#tag-list .tag")).to_have_count(2)
    alex.click('button[aria-label="Remove tag billing"]')
    expect(alex.locator("#tag-list .tag")).to_have_text(["vip"])
    alex.locator("#reply-text").press("Control+Enter")
    expect(alex.locator("#transcript li.msg-agent").last).to_contain_text(
        "Hi Dana, thanks for waiting", timeout=LIVE_MS)
    alex.goto(f"{app.url}/console/?q=vip")
    expect(alex.locator(f'#queue tr[data-id="{cid}"]')).to_contain_text("vip")
    assert errors == []


def test_insights_show_the_widget_ratings(app: AppServer, browser: Browser) -> None:
    errors: list[str] = []
    with app.sessions.begin() as session:
        cid = resolved_handoff(session, app.agent_id(ALEX))
        ratings.rate(session=session, conversation_id=cid, score=2, comment="slow",
                     actor="service:web-widget")
    ada = agent_page(browser, app, ADMIN_EMAIL, errors)
    ada.goto(f"{app.url}/console/insights")
    table = ada.locator('[data-figure="satisfaction"]')
    expect(table).to_contain_text("Alex Agent", timeout=LIVE_MS)
    expect(table).to_contain_text("all agents")
    assert errors == []
