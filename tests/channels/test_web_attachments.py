"""Files through the widget's door and out of the console's: what is stored, what is refused
(and said why, with CORS headers the widget can read), who may download a file, and how it is
served so that a browser never runs it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_store import support
from crm_store.models import Attachment, Conversation, Interaction
from relay import responses
from relay.app import create_app
from relay.settings import Settings
from tests.console.test_console import login
from tests.crm_store.test_attachments import (
    HTML,
    PDF,
    SECRETS,
    SVG,
    png,
    same_picture,
    with_metadata,
)

LIMIT = 2 * 1024 * 1024  # over the app's 1 MiB body limit, to prove the upload path has its own


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    """The app with a 2 MiB file limit, its lifespan running."""
    app = create_app(settings.model_copy(update={"attachment_max_bytes": LIMIT}))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def web_id() -> str:
    return f"web-{uuid.uuid4().hex}"


def upload(client: TestClient, cid: str, data: bytes, name: str | None = "file.png",
           **params: str) -> tuple[int, dict]:
    query = {**({"name": name} if name is not None else {}), **params}
    response = client.post(f"/chat/{cid}/attachments", params=query, content=data,
                           headers={"Content-Type": "application/octet-stream"})
    return response.status_code, response.json()


def customer_texts(sessions: sessionmaker[Session], cid: str) -> list[str]:
    """The customer's messages the CRM logged, once the event path has logged the first."""
    deadline = time.monotonic() + 10
    while True:
        with sessions() as session:
            texts = list(session.scalars(select(Interaction.text).where(
                Interaction.conversation_id == cid, Interaction.author == "customer")
                .order_by(Interaction.id)))
        if texts or time.monotonic() > deadline:
            return texts
        time.sleep(0.05)


def handed_off_after_a_turn(client: TestClient, sessions: sessionmaker[Session]) -> str:
    """A widget conversation with a first turn, then handed to a person: its id."""
    cid = web_id()
    assert client.post(f"/chat/{cid}/messages", json={"text": "hello"}).status_code == 200
    with sessions.begin() as session:
        support.request_handoff(session=session, conversation_id=cid, actor="relay-bot",
                                reason="asked for a person", transcript="")
    return cid


def stored_files(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Attachment)) or 0)


def test_an_image_is_stored_shown_in_the_history_and_served_inert(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = web_id()
    image = png(1200, 700)  # a real image, larger than a few bytes
    status, body = upload(client, cid, image, name="C:\\Users\\ana\\Error <1>.png")
    assert status == 201, body
    file = body["message"]["attachment"]
    assert file["filename"] == "Error 1.png"
    assert (file["content_type"], file["kind"]) == ("image/png", "image")
    assert file["url"] == f"/chat/{cid}/attachments/{file['id']}"
    assert body["message"]["text"] == "[file: Error 1.png]"
    # The bot has the conversation: it says a person can see the file (it cannot read it).
    assert body["replies"] == [{"text": responses.text("utter_file_kept", None)}]

    history = client.get(f"/chat/{cid}/history").json()["messages"]
    assert [m.get("attachment", {}).get("id") for m in history] == [file["id"], None]
    assert history[1]["author"] == "system"

    served = client.get(file["url"])
    assert served.status_code == 200 and same_picture(served.content, image)
    assert file["size"] == len(served.content)
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert "script-src" not in served.headers["content-security-policy"]
    assert served.headers["content-disposition"].startswith("inline;")


def test_a_phones_photo_reaches_agents_without_where_it_was_taken(
    client: TestClient, sessions: sessionmaker[Session],
) -> None:
    """A photo straight from a phone carries its GPS position, the camera's serial number and
    the owner's name; what is stored, served to the customer and opened by agents has none."""
    cid = handed_off_after_a_turn(client, sessions)
    photo = with_metadata("JPEG", orientation=6)
    status, body = upload(client, cid, photo, name="IMG_20261201.jpg")
    assert status == 201, body
    served = client.get(body["message"]["attachment"]["url"]).content
    with sessions() as session:
        stored = session.scalars(select(Attachment.data)).one()
    login(client)
    opened = client.get(f"/console/attachments/{body['message']['attachment']['id']}")
    for data in (served, stored, opened.content):
        assert data and not any(secret in data for secret in SECRETS)
    assert opened.status_code == 200 and same_picture(opened.content, stored)


def test_a_pdf_is_always_a_download(client: TestClient) -> None:
    cid = web_id()
    status, body = upload(client, cid, PDF, name="Rechnung März.pdf")
    assert status == 201
    served = client.get(body["message"]["attachment"]["url"])
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"] == (
        "attachment; filename=\"Rechnung M_rz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf")


@pytest.mark.parametrize(("data", "name", "status", "says"), [
    (HTML, "cat.png", 415, "Only images (JPEG, PNG, GIF, WebP) and PDF files"),
    (SVG, "logo.svg", 415, "Only images"),
    (b"MZ\x90\x00 not a pdf", "invoice.pdf", 415, "Only images"),
    (b"", "empty.png", 422, "The file is empty."),
    (png() + b"\x00" * LIMIT, "huge.png", 413, "larger than the 2 MiB limit"),
])
def test_a_refused_file_says_why_and_keeps_the_customers_text(
    client: TestClient, sessions: sessionmaker[Session], data: bytes, name: str, status: int,
    says: str,
) -> None:
    cid = web_id()
    assert client.post(f"/chat/{cid}/messages", json={"text": "here is my invoice"}
                       ).status_code == 200
    assert customer_texts(sessions, cid) == ["here is my invoice"]  # logged by the event path
    response = client.post(f"/chat/{cid}/attachments", params={"name": name}, content=data)
    assert response.status_code == status
    assert says in response.json()["detail"]
    assert response.headers["access-control-allow-origin"] == "*"  # the widget can read it
    assert stored_files(sessions) == 0
    time.sleep(0.3)
    assert customer_texts(sessions, cid) == ["here is my invoice"]  # nothing lost or added


def test_a_body_over_the_limit_is_refused_without_a_length_header_too(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    def chunks() -> Iterator[bytes]:
        yield png()
        for _ in range(40):
            yield b"\x00" * 65536  # 2.5 MiB in all, sent chunked

    response = client.post(f"/chat/{web_id()}/attachments", params={"name": "a.png"},
                           content=chunks())
    assert response.status_code == 413
    assert stored_files(sessions) == 0


def test_a_retried_upload_is_stored_once(client: TestClient,
                                         sessions: sessionmaker[Session]) -> None:
    cid = web_id()
    first = upload(client, cid, PDF, name="a.pdf", id="upload-0001")
    again = upload(client, cid, PDF, name="a.pdf", id="upload-0001")
    assert first[0] == again[0] == 201
    assert again[1]["message"]["attachment"]["id"] == first[1]["message"]["attachment"]["id"]
    assert again[1]["replies"] == []  # said once
    assert stored_files(sessions) == 1


def test_only_the_conversations_own_session_downloads_its_files(client: TestClient) -> None:
    mine, someone_else = web_id(), web_id()
    _, body = upload(client, mine, png(), name="private.png")
    file_id = body["message"]["attachment"]["id"]
    upload(client, someone_else, png(), name="theirs.png")
    assert client.get(f"/chat/{mine}/attachments/{file_id}").status_code == 200
    for url in (f"/chat/{someone_else}/attachments/{file_id}",  # another visitor's session
                f"/chat/{mine}/attachments/{file_id + 100}",
                f"/chat/{web_id()}/attachments/{file_id}"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/chat/not-a-session/attachments/{file_id}").status_code == 400
    assert client.get(f"/chat/{mine}/attachments/99999999999999999999").status_code == 422
    # Nor through the console without a login: the login page, not the file.
    response = client.get(f"/console/attachments/{file_id}")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login")


def test_handed_off_the_agent_sees_the_file_and_the_bot_says_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off_after_a_turn(client, sessions)
    status, body = upload(client, cid, PDF, name="contract.pdf")
    assert status == 201 and body["replies"] == []
    file_id = body["message"]["attachment"]["id"]

    login(client)
    messages = client.get(f"/console/api/conversations/{cid}/messages").json()["messages"]
    shown = [m["attachment"] for m in messages if m["attachment"]]
    assert shown == [{"id": file_id, "filename": "contract.pdf",
                      "content_type": "application/pdf", "size": len(PDF),
                      "size_text": f"{len(PDF)} bytes", "kind": "pdf",
                      "url": f"/console/attachments/{file_id}"}]
    page = client.get(f"/console/conversations/{cid}").text
    assert f'href="/console/attachments/{file_id}" class="file" download' in page
    served = client.get(f"/console/attachments/{file_id}")
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["content-disposition"].startswith("attachment;")
    assert served.headers["cross-origin-resource-policy"] == "same-origin"
    assert client.get(f"/console/attachments/{file_id + 100}").status_code == 404


def test_files_count_against_the_rate_limit(settings: Settings,
                                            sessions: sessionmaker[Session]) -> None:
    limited = settings.model_copy(update={"chat_rate_per_minute": 1})
    with TestClient(create_app(limited)) as client:
        cid = web_id()
        assert upload(client, cid, png())[0] == 201
        status, body = upload(client, cid, png())
    assert status == 429 and "wait" in body["detail"]
    assert stored_files(sessions) == 1


def send_as_agent(client: TestClient, cid: str, csrf: str, data: bytes, name: str,
                  caption: str = "") -> tuple[int, dict]:
    """The console's file form, sent as its script sends it."""
    response = client.post(f"/console/conversations/{cid}/attachments",
                           data={"csrf": csrf, "text": caption},
                           files={"file": (name, data, "text/html")},  # the type is ignored
                           headers={"Accept": "application/json"})
    return response.status_code, response.json()


def status_of(sessions: sessionmaker[Session], cid: str) -> str:
    with sessions() as session:
        return str(session.scalar(select(Conversation.status).where(Conversation.id == cid)))


def test_an_agents_file_reaches_the_widget_and_only_that_conversation_downloads_it(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off_after_a_turn(client, sessions)
    csrf = login(client)
    image = png(40, 30)
    status, body = send_as_agent(client, cid, csrf, image, "../Screen shot.png",
                                 caption="The setting is in the red box")
    assert (status, body["outcome"]) == (200, "file-sent")
    assert status_of(sessions, cid) == "agent"  # sending a file claims it, like a reply

    history = client.get(f"/chat/{cid}/history").json()["messages"]
    sent = [m for m in history if m.get("attachment")]
    assert [(m["author"], m["text"]) for m in sent] == [
        ("agent", "[file: Screen shot.png] The setting is in the red box")]
    shown = sent[0]["attachment"]
    assert (shown["filename"], shown["kind"]) == ("Screen shot.png", "image")
    served = client.get(shown["url"])  # the visitor's own conversation path
    assert served.status_code == 200 and same_picture(served.content, image)
    assert shown["size"] == len(served.content)
    assert served.headers["content-type"] == "image/png"
    assert client.get(shown["url"].replace(cid, web_id())).status_code == 404

    console = client.get(f"/console/api/conversations/{cid}/messages").json()["messages"]
    assert [m["attachment"]["url"] for m in console if m["attachment"]] == [
        f"/console/attachments/{shown['id']}"]


def test_a_refused_agent_file_says_why_and_changes_nothing(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    cid = handed_off_after_a_turn(client, sessions)
    before = stored_files(sessions)
    assert client.post(f"/console/conversations/{cid}/attachments",  # not logged in
                       files={"file": ("a.png", png(), "image/png")}).status_code in (401, 303)
    csrf = login(client)
    for data, name, expected in [(HTML, "page.png", 415), (SVG, "logo.svg", 415),
                                 (b"", "empty.pdf", 422), (b"%PDF" + b"x" * LIMIT, "big.pdf", 413)]:
        status, body = send_as_agent(client, cid, csrf, data, name)
        assert status == expected, (name, body)
        assert body["detail"].endswith(".") and len(body["detail"]) > 10
    response = client.post(f"/console/conversations/{cid}/attachments",
                           data={"csrf": "forged"}, files={"file": ("a.png", png(), "image/png")})
    assert response.status_code == 403
    too_big_body = client.post(f"/console/conversations/{cid}/attachments",
                               data={"csrf": csrf},
                               files={"file": ("a.pdf", b"%PDF" + b"x" * (3 * LIMIT), "x/y")})
    assert too_big_body.status_code == 413
    assert stored_files(sessions) == before
    assert status_of(sessions, cid) == "handoff"  # nothing claimed by a refused file
    page = client.post(f"/console/conversations/{cid}/attachments", data={"csrf": csrf},
                       files={"file": ("", b"", "application/octet-stream")})
    assert page.status_code == 303 and "notice=file-missing" in page.headers["location"]
