"""Customers' files (crm_store/attachments.py): what is taken, what is refused, how a file is
named, and that erasure, export, retention, linking and merging treat files like messages.

Runs on SQLite and, when configured, PostgreSQL (the bytes are a BLOB / bytea).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm_store import attachments, conversations, customer_merge, customers, privacy
from crm_store.models import Attachment, Conversation, Interaction, utcnow

LIMIT = 64 * 1024


def png(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (40, 85, 216)) -> bytes:
    """A real, decodable PNG of one colour (browsers render it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PDF = (b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
       b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
       b"trailer <</Root 1 0 R>>\n%%EOF\n")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 40


@pytest.mark.parametrize(("data", "content_type"), [
    (png(), "image/png"), (PDF, "application/pdf"), (JPEG, "image/jpeg"), (GIF, "image/gif"),
    (WEBP, "image/webp"),
])
def test_the_type_comes_from_the_bytes(data: bytes, content_type: str) -> None:
    assert attachments.sniff(data) == content_type


@pytest.mark.parametrize("data", [HTML, SVG, ELF, b"PK\x03\x04zip", b"%PD", b"RIFF1234WAVE",
                                  b"hello, plain text"])
def test_anything_else_is_refused_whatever_its_name(data: bytes) -> None:
    with pytest.raises(attachments.UnsupportedFile, match="Only images"):
        attachments.check(data=data, filename="holiday.png", max_bytes=LIMIT)


def test_empty_and_oversize_files_are_refused_with_a_sentence() -> None:
    with pytest.raises(attachments.EmptyFile, match="empty"):
        attachments.check(data=b"", filename="a.png", max_bytes=LIMIT)
    with pytest.raises(attachments.FileTooLarge, match="larger than the 64 KB limit"):
        attachments.check(data=png() + b"\x00" * LIMIT, filename="a.png", max_bytes=LIMIT)
    content_type, _ = attachments.check(data=PDF + b"\x00" * (LIMIT - len(PDF)),
                                        filename="a.pdf", max_bytes=LIMIT)
    assert content_type == "application/pdf"  # exactly at the limit is fine


@pytest.mark.parametrize(("given", "content_type", "kept"), [
    ("invoice.pdf", "application/pdf", "invoice.pdf"),
    ("../../etc/passwd", "image/png", "passwd.png"),
    ("..\\..\\windows\\win.ini", "image/png", "win.ini.png"),
    ("<script>.png", "image/png", "script.png"),
    ("<img src=x onerror=alert(1)>.png", "image/png", "img src=x onerror=alert(1).png"),
    ("<script>alert(1)</script>.png", "image/png", "script.png"),  # "/" ends a path part
    ("photo.JPEG", "image/jpeg", "photo.jpeg"),
    ("report.pdf.exe", "application/pdf", "report.pdf.exe.pdf"),
    ("holiday.png", "application/pdf", "holiday.png.pdf"),  # a PDF named like an image
    ("evil\u202egnp.pdf", "application/pdf", "evilgnp.pdf"),  # no right-to-left override
    ("line\r\nbreak\x00.png", "image/png", "linebreak.png"),
    ("   ", "image/gif", "image.gif"),
    (None, "application/pdf", "document.pdf"),
    (".htaccess", "image/png", "htaccess.png"),
    ("Rechnung für März.pdf", "application/pdf", "Rechnung für März.pdf"),
    ("x" * 500 + ".png", "image/png", "x" * 116 + ".png"),
])
def test_the_name_is_only_a_label(given: str | None, content_type: str, kept: str) -> None:
    assert attachments.clean_filename(given, content_type) == kept


def _conversation(session: Session, cid: str = "web-" + "a" * 32) -> str:
    conversations.get_or_create(session=session, conversation_id=cid)
    return cid


def test_a_file_is_stored_with_its_message_once(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        cid = _conversation(session)
        first = attachments.store(session=session, conversation_id=cid, channel="web",
                                  data=PDF, filename="../Invoice 42.pdf", max_bytes=LIMIT,
                                  dedupe_key="k-1")
        again = attachments.store(session=session, conversation_id=cid, channel="web",
                                  data=PDF, filename="../Invoice 42.pdf", max_bytes=LIMIT,
                                  dedupe_key="k-1")
        assert again.id == first.id
    with sessions() as session:
        message = session.scalars(select(Interaction)).one()
        assert (message.author, message.direction, message.text) == (
            "customer", "inbound", "[file: Invoice 42.pdf]")
        stored = attachments.get(session=session, attachment_id=first.id, conversation_id=cid)
        assert stored is not None and stored.data == PDF
        assert (stored.filename, stored.content_type, stored.size, stored.sha256) == (
            "Invoice 42.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
        assert stored.interaction_id == message.id
        # Another conversation's id finds nothing.
        assert attachments.get(session=session, attachment_id=first.id,
                               conversation_id="web-" + "b" * 32) is None
        listed = attachments.for_messages(session=session, interaction_ids=[message.id])
        assert attachments.describe(listed[message.id], url="/x") == {
            "id": first.id, "filename": "Invoice 42.pdf", "content_type": "application/pdf",
            "size": len(PDF), "size_text": f"{len(PDF)} bytes", "kind": "pdf", "url": "/x"}


def test_a_refused_file_leaves_nothing_behind(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        cid = _conversation(session)
        with pytest.raises(attachments.UnsupportedFile):
            attachments.store(session=session, conversation_id=cid, channel="web", data=HTML,
                              filename="x.png", max_bytes=LIMIT)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Interaction)) == 0
        assert session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_erasure_deletes_the_customers_files_and_export_lists_them(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        dana = customers.create(session=session, actor="test", name="Dana",
                                email="dana@example.com")
        other = customers.create(session=session, actor="test", name="Olu",
                                 email="olu@example.com")
        mine = _conversation(session, "web-" + "1" * 32)
        theirs = _conversation(session, "web-" + "2" * 32)
        attachments.store(session=session, conversation_id=mine, channel="web", data=png(),
                          filename="screen.png", max_bytes=LIMIT)
        conversations.link_customer(session=session, conversation_id=mine,
                                    customer_id=dana.id, actor="test")
        attachments.store(session=session, conversation_id=theirs, channel="web", data=PDF,
                          filename="olu.pdf", max_bytes=LIMIT)
        conversations.link_customer(session=session, conversation_id=theirs,
                                    customer_id=other.id, actor="test")
        dana_id, other_id = dana.id, other.id
    with sessions() as session:
        # Linking the conversation back-filled the file's customer, like its messages'.
        assert session.scalars(select(Attachment.customer_id).where(
            Attachment.conversation_id == mine)).one() == dana_id
        exported = privacy.export(session=session, customer_id=dana_id)
        assert [(f["filename"], f["content_type"]) for f in exported["files"]] == [
            ("screen.png", "image/png")]
        assert "data" not in exported["files"][0]
    with sessions.begin() as session:
        done = privacy.erase(session=session, customer_id=dana_id, actor="service:test")
        assert done.files == 1
    with sessions() as session:
        left = session.scalars(select(Attachment.filename)).all()
        assert left == ["olu.pdf"]
        assert session.scalars(select(Attachment.customer_id)).one() == other_id


def test_retention_deletes_old_conversations_files(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        old = _conversation(session, "web-" + "3" * 32)
        attachments.store(session=session, conversation_id=old, channel="web", data=GIF,
                          filename="old.gif", max_bytes=LIMIT)
        session.get_one(Conversation, old).last_message_at = utcnow() - timedelta(days=90)
        fresh = _conversation(session, "web-" + "4" * 32)
        attachments.store(session=session, conversation_id=fresh, channel="web", data=GIF,
                          filename="new.gif", max_bytes=LIMIT)
    with sessions.begin() as session:
        assert privacy.purge_conversations(session=session, older_than_days=30,
                                           actor="service:retention") == 1
    with sessions() as session:
        assert session.scalars(select(Attachment.filename)).all() == ["new.gif"]


def test_merging_customers_moves_their_files(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        keep = customers.create(session=session, actor="test", name="Kim",
                                email="kim@example.com")
        dup = customers.create(session=session, actor="test", name="Kim K")
        cid = _conversation(session, "web-" + "5" * 32)
        conversations.link_customer(session=session, conversation_id=cid, customer_id=dup.id,
                                    actor="test")
        attachments.store(session=session, conversation_id=cid, channel="web", data=JPEG,
                          filename="receipt.jpg", max_bytes=LIMIT)
        keep_id, dup_id = keep.id, dup.id
    with sessions.begin() as session:
        customer_merge.merge(session=session, keep_id=keep_id, merge_id=dup_id, actor="test")
    with sessions() as session:
        assert session.scalars(select(Attachment.customer_id)).one() == keep_id
