"""Customers' files (crm_store/attachments.py): what is taken, what is refused, how a file is
named, and that erasure, export, retention, linking and merging treat files like messages.

Runs on SQLite and, when configured, PostgreSQL (the bytes are a BLOB / bytea).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat, PngImagePlugin
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


def encoded(pillow_format: str, width: int = 8, height: int = 6, **options: Any) -> bytes:
    """A real image in pillow_format: left half red, right half blue (so a turn shows)."""
    image = Image.new("RGB", (width, height), (220, 30, 30))
    image.paste((30, 30, 220), (width // 2, 0, width, height))
    out = io.BytesIO()
    image.save(out, pillow_format, **options)
    return out.getvalue()


def same_picture(a: bytes, b: bytes, tolerance: float = 0) -> bool:
    """Whether two encoded images show the same pixels: of the same size, differing by at
    most tolerance per channel on average (a JPEG saved again moves its sharp edges a bit)."""
    first, second = (Image.open(io.BytesIO(x)).convert("RGB") for x in (a, b))
    if first.size != second.size:
        return False
    return max(ImageStat.Stat(ImageChops.difference(first, second)).mean) <= tolerance


JPEG = encoded("JPEG", 64, 48, quality=95)
GIF = encoded("GIF")
WEBP = encoded("WEBP")
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
    checked = attachments.check(data=PDF + b"\x00" * (LIMIT - len(PDF)), filename="a.pdf",
                                max_bytes=LIMIT)
    assert checked.content_type == "application/pdf"  # exactly at the limit is fine


SECRETS = (b"Pixel-Serial-4711", b"Dana Smith", b"home-address")


def with_metadata(pillow_format: str, orientation: int = 1) -> bytes:
    """A photo as phones write it: EXIF with the GPS position, the camera's serial number and
    an orientation, XMP, a comment (JPEG) or text chunks (PNG)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0xA431] = "Pixel-Serial-4711"  # BodySerialNumber
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)}  # GPS
    options: dict[str, Any] = {"exif": exif.tobytes()}
    if pillow_format == "JPEG":
        options.update(comment=b"Dana Smith", xmp=b"<x:xmpmeta>home-address</x:xmpmeta>",
                       quality=95)
    if pillow_format == "PNG":
        text = PngImagePlugin.PngInfo()
        text.add_text("Author", "Dana Smith")
        text.add_itxt("XML:com.adobe.xmp", "<x>home-address</x>")
        options["pnginfo"] = text
    if pillow_format == "WEBP":
        options.update(xmp=b"<x>home-address Dana Smith</x>", lossless=True)
    return encoded(pillow_format, 64, 48, **options)


def gps_of(data: bytes) -> Any:
    return Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)


@pytest.mark.parametrize("pillow_format", ["JPEG", "PNG", "WEBP"])
def test_a_photo_is_stored_without_its_metadata(pillow_format: str) -> None:
    sent = with_metadata(pillow_format)
    assert gps_of(sent) and all(secret in sent for secret in SECRETS)
    kept = attachments.check(data=sent, filename="IMG_0001", max_bytes=LIMIT).data
    assert not any(secret in kept for secret in SECRETS)
    assert b"Exif" not in kept and not gps_of(kept)
    assert Image.open(io.BytesIO(kept)).info.keys() <= attachments.RENDERING_INFO | {
        "jfif", "jfif_version", "jfif_unit", "jfif_density"}
    assert same_picture(sent, kept, tolerance=0 if pillow_format != "JPEG" else 3)


def test_a_turned_photo_is_stored_upright() -> None:
    """Phones store a portrait photo landscape with orientation 6 ("turn 90° clockwise");
    without the EXIF that says so it would show on its side, so the pixels are turned."""
    sent = with_metadata("JPEG", orientation=6)
    kept = attachments.check(data=sent, filename="portrait.jpg", max_bytes=LIMIT).data
    shown = Image.open(io.BytesIO(kept)).convert("RGB")
    assert shown.size == (48, 64)
    # Red was the left half; turned clockwise it is the top half.
    assert shown.getpixel((24, 5))[0] > 150 and shown.getpixel((24, 58))[2] > 150
    assert not any(secret in kept for secret in SECRETS)


def test_an_animation_keeps_its_frames_and_loses_its_comment() -> None:
    frames = [Image.new("RGB", (10, 10), (80 * i, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0,
                   comment=b"Dana Smith")
    kept = attachments.check(data=out.getvalue(), filename="wave.gif", max_bytes=LIMIT).data
    shown = Image.open(io.BytesIO(kept))
    assert (shown.n_frames, shown.info["duration"], shown.info["loop"]) == (3, 120, 0)
    assert b"Dana Smith" not in kept


def bomb() -> bytes:
    """20,000 by 20,000 pixels in 48 KB: decoding it would take 400 MB, in RGB 1.2 GB."""
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(("make", "refusal"), [
    (lambda: JPEG[: len(JPEG) // 2] + b"\x00" * 20, attachments.UnreadableImage),
    (lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, attachments.UnreadableImage),
    (lambda: WEBP[:20], attachments.UnreadableImage),
    (lambda: b"GIF89a" + b"\xff" * 30, attachments.UnreadableImage),
    (bomb, attachments.ImageTooLarge),
])
def test_an_image_that_cannot_be_read_or_is_too_many_pixels_is_refused(
    make: Any, refusal: type[attachments.FileRefused], sessions: sessionmaker[Session],
) -> None:
    data = make()
    with sessions.begin() as session:
        cid = _conversation(session)
        with pytest.raises(refusal) as refused:
            attachments.store(session=session, conversation_id=cid, channel="web", data=data,
                              filename="x.png", max_bytes=LIMIT)
    assert "image" in str(refused.value)
    with sessions() as session:  # nothing half-stored
        assert session.scalar(select(func.count()).select_from(Interaction)) == 0


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
