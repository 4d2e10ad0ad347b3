"""Files in Debian's Chromium: a visitor whose conversation a person has sends a PNG and a PDF
from the widget (the paperclip, by keyboard); the agent sees both in the open conversation
without a reload (the image as a thumbnail that really loads behind the login, the PDF as a
download); a PNG-named page is refused in the widget with the reason, and the half-typed text
stays. axe-core finds no serious violation on either page with the files in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.accessibility import assert_accessible
from tests.browser.app_server import ALEX_EMAIL, AppServer, log_in, running_app
from tests.browser.test_handoff_e2e import browser
from tests.browser.test_widget_ui import claimed_by_alex, open_widget
from tests.crm_store.test_attachments import HTML, PDF, png

pytestmark = [pytest.mark.browser]
__all__ = ["browser"]

LIVE_MS = 10_000
ATTACH = "Attach an image or a PDF"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The app on its own database and the fake Rasa."""
    with running_app(Path(tmp_path_factory.mktemp("attachments"))) as server:
        yield server


def alex_on(browser: Browser, app: AppServer, cid: str) -> tuple[Page, list[str]]:
    """Alex's console open on the conversation (marked, so a reload would show), and the
    page's errors."""
    errors: list[str] = []
    agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    agent.on("pageerror", lambda e: errors.append(str(e)))
    log_in(agent, app, ALEX_EMAIL)
    agent.goto(f"{app.url}/console/conversations/{cid}")
    agent.evaluate("window.__noReload = 1")
    return agent, errors


def send_file(page: Page, name: str, mime: str, data: bytes) -> None:
    """Choose a file the way a keyboard user does: focus the paperclip, press Enter."""
    button = page.get_by_role("button", name=ATTACH)
    with page.expect_file_chooser() as chooser:
        button.focus()
        page.keyboard.press("Enter")
    chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_a_visitor_sends_a_png_and_a_pdf_and_the_agent_sees_both(app: AppServer,
                                                                  browser: Browser) -> None:
    page, problems = open_widget(browser, app)
    cid, _ = claimed_by_alex(page, app)
    expect(page.locator('.relay-notice[data-notice="agent-joined"]')).to_be_visible(
        timeout=LIVE_MS)

    agent, errors = alex_on(browser, app, cid)

    page.fill(".relay-input", "half-typed question")
    send_file(page, "screenshot.png", "image/png", png(320, 200))
    mine = page.locator(".relay-msg--customer").last
    thumb = mine.locator("img")
    expect(thumb).to_have_attribute("alt", "Image you sent: screenshot.png", timeout=LIVE_MS)
    expect(thumb).to_have_js_property("naturalWidth", 320)
    send_file(page, "Invoice 2026-11.pdf", "application/pdf", PDF)
    pdf_link = page.locator(".relay-msg--customer").last.locator("a.relay-file-link")
    expect(pdf_link).to_have_text("Invoice 2026-11.pdf", timeout=LIVE_MS)
    expect(pdf_link).to_have_attribute("download", "Invoice 2026-11.pdf")
    expect(page.locator(".relay-msg--customer").last).to_contain_text("PDF")
    # A person has the conversation: the bot said nothing about the files.
    assert page.locator(".relay-msg--system").count() == 0
    assert page.input_value(".relay-input") == "half-typed question"

    # The agent sees both, live: the thumbnail loads through the console's login.
    transcript = agent.locator("#transcript")
    image = transcript.locator(".attachment-image img")
    expect(image).to_have_attribute("alt", "Image the customer sent: screenshot.png",
                                    timeout=LIVE_MS)
    expect(image).to_have_js_property("naturalWidth", 320)
    pdf = transcript.locator(".attachment-pdf a.file")
    expect(pdf).to_have_text("Invoice 2026-11.pdf", timeout=LIVE_MS)
    assert pdf.get_attribute("download") == ""
    assert agent.evaluate("window.__noReload === 1")
    with agent.expect_download() as download:
        pdf.click()
    assert Path(download.value.path()).read_bytes() == PDF
    assert_accessible(agent, "the console conversation with a customer's image and PDF")

    # A web page named like an image is refused; the typed text is still there.
    send_file(page, "cat.png", "image/png", HTML)
    expect(page.locator(".relay-msg--system .relay-msg-text").last).to_have_text(
        "Only images (JPEG, PNG, GIF, WebP) and PDF files can be sent.", timeout=LIVE_MS)
    assert page.input_value(".relay-input") == "half-typed question"
    assert_accessible(page, "the widget with a sent image, a sent PDF and a refusal")

    # After a reload the visitor's transcript shows the files again (its session fetches them).
    page.reload()
    expect(page.locator(".relay-msg--customer img")).to_have_js_property("naturalWidth", 320,
                                                                        timeout=LIVE_MS)
    expect(page.locator(".relay-msg--customer a.relay-file-link")).to_have_count(2)
    assert problems == [] and errors == []


def test_the_bot_answers_a_file_and_labels_follow_the_language(app: AppServer,
                                                               browser: Browser) -> None:
    page = browser.new_context(locale="de-DE").new_page()
    page.goto(f"{app.url}/")
    page.click(".relay-launcher")
    attach = page.get_by_role("button", name="Bild oder PDF anhängen")
    expect(attach).to_be_visible()
    with page.expect_file_chooser() as chooser:
        attach.click()
    chooser.value.set_files(files=[{"name": "scan.png", "mimeType": "image/png",
                                    "buffer": png()}])
    expect(page.locator(".relay-msg--system").last).to_contain_text(
        "Danke, ich habe Ihre Datei gespeichert", timeout=LIVE_MS)
    expect(page.locator(".relay-msg--customer img")).to_have_attribute(
        "alt", "Von Ihnen gesendetes Bild: scan.png")


def test_an_agent_sends_a_screenshot_and_the_visitor_sees_it_with_the_caption(
    app: AppServer, browser: Browser
) -> None:
    page, problems = open_widget(browser, app)
    cid, _ = claimed_by_alex(page, app)
    agent, errors = alex_on(browser, app, cid)

    # A web page named like an image is refused in the console, with the reason.
    agent.set_input_files("#file-input", files=[{"name": "steps.png", "mimeType": "image/png",
                                                 "buffer": HTML}])
    agent.get_by_role("button", name="Send file").press("Enter")
    expect(agent.locator("#live-notice")).to_contain_text("Only images", timeout=LIVE_MS)

    # The screenshot goes, by keyboard, with a caption.
    agent.set_input_files("#file-input", files=[{"name": "where-to-click.png",
                                                 "mimeType": "image/png",
                                                 "buffer": png(240, 120)}])
    agent.get_by_label("Caption (optional)").fill("Click the gear, then Sync.")
    agent.get_by_role("button", name="Send file").press("Enter")
    expect(agent.locator("#live-notice")).to_have_text("File sent.", timeout=LIVE_MS)
    assert agent.input_value("#file-input") == ""  # the form starts afresh
    sent = agent.locator("#transcript .msg-agent .attachment-image img")
    expect(sent).to_have_attribute("alt", "Image an agent sent: where-to-click.png",
                                   timeout=LIVE_MS)
    expect(sent).to_have_js_property("naturalWidth", 240)
    assert agent.evaluate("window.__noReload === 1")

    # The visitor sees it live: the image loads through their own session, the caption below.
    from_agent = page.locator(".relay-msg--agent").last
    image = from_agent.locator("img")
    expect(image).to_have_attribute("alt", "Image from support: where-to-click.png",
                                    timeout=LIVE_MS)
    expect(image).to_have_js_property("naturalWidth", 240)
    expect(from_agent.locator(".relay-msg-text")).to_have_text("Click the gear, then Sync.")
    assert_accessible(page, "the widget with an agent's image")
    assert_accessible(agent, "the console with the file form and an agent's image")
    page.reload()
    expect(page.locator(".relay-msg--agent img")).to_have_js_property("naturalWidth", 240,
                                                                     timeout=LIVE_MS)
    assert problems == [] and errors == []
