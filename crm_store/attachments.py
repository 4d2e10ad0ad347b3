"""Files in conversations (images and PDFs): checked, named safely, stored with their message.

Customers send them from the widget and Telegram; agents send them from the console
(crm_store.support.send_file), and the customer's channel delivers them like any reply.

What a file is comes from its first bytes, never from the name or the Content-Type the client
gave: JPEG, PNG, GIF, WebP and PDF are taken, anything else is refused (UnsupportedFile), as
are an empty file (EmptyFile) and one over the limit (FileTooLarge, settings'
attachment_max_bytes). The name is only a label: reduced to its last path part, stripped of
control, bidi and shell/HTML-special characters, and given the extension of what the bytes are
("<script>.png" holding a PDF becomes "script.png.pdf"). A stored file is one message
("[file: invoice.pdf]", then the caption if there is one) plus an Attachment row holding the
bytes, in one transaction, so the console and the widget's history show it wherever the
message shows.

Images are decoded and saved again (Pillow) before they are stored: what a phone writes into a
photo (EXIF with the GPS position, the camera's serial number, XMP, comments, PNG text) never
reaches the database, agents or another customer. The EXIF orientation is applied to the pixels
first, so the photo still shows upright; the colour profile and animation are kept. An image
Pillow cannot read is refused (UnreadableImage), as is one of more than MAX_PIXELS pixels
(ImageTooLarge), before it is decoded: a small file can hold a huge, memory-eating image.

Serving (crm_store/api/files.py) uses the sniffed type and a policy that runs nothing.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import warnings
from typing import Any, NamedTuple

from PIL import Image, ImageOps, ImageSequence
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from crm_store import interactions
from crm_store.enums import Author, Direction
from crm_store.errors import InvalidValue
from crm_store.models import Attachment, Interaction

# Sniffed type → extensions it may carry (the first is the one given when the name has none).
TYPES: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
}
KINDS = {"application/pdf": "pdf"}  # everything else in TYPES is an image
MAX_NAME_CHARS = 120
FORBIDDEN_IN_NAMES = set('<>:"/\\|?*`')  # HTML and path specials; Windows refuses them too
TEXT_PREFIX = "[file: "
FILE_AUTHORS = (Author.CUSTOMER, Author.AGENT)  # whose messages carry files
MAX_PIXELS = 50_000_000  # a 50-megapixel photo is taken; a bigger image is refused undecoded
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF",
                  "image/webp": "WEBP"}
# What an image keeps of its info when saved again: how it renders, nothing about who made it.
RENDERING_INFO = frozenset({"icc_profile", "transparency", "duration", "loop", "background",
                            "gamma", "dpi", "disposal", "blend"})
JPEG_QUALITY = 90  # re-saving a photo; "keep" (the original tables) when it needs no turning


class FileRefused(InvalidValue):
    """A file that is not stored; the message says why in words a customer can act on."""


class EmptyFile(FileRefused):
    """The file has no bytes."""

    def __init__(self) -> None:
        super().__init__("The file is empty.")


class UnsupportedFile(FileRefused):
    """The bytes are not one of the accepted types, whatever the name says."""

    def __init__(self) -> None:
        super().__init__("Only images (JPEG, PNG, GIF, WebP) and PDF files can be sent; "
                         "this file is none of these.")


class FileTooLarge(FileRefused):
    """The file is over the limit."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The file is larger than the {human_size(max_bytes)} limit.")
        self.max_bytes = max_bytes


class UnreadableImage(FileRefused):
    """The bytes start like an image but do not decode as one."""

    def __init__(self) -> None:
        super().__init__("The image could not be read; it may be damaged. "
                         "Please send it again, or as a PDF.")


class ImageTooLarge(FileRefused):
    """An image of more pixels than MAX_PIXELS, whatever its size in bytes."""

    def __init__(self) -> None:
        super().__init__(f"The image is larger than {MAX_PIXELS // 1_000_000} megapixels; "
                         "please send a smaller one.")


class Checked(NamedTuple):
    """An acceptable file: its type, its safe name and the bytes to store."""

    content_type: str
    name: str
    data: bytes


def human_size(size: int) -> str:
    """A byte count for people: "812 bytes", "14 KB", "2.5 MB"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def sniff(data: bytes) -> str | None:
    """The accepted type the bytes are (by their magic numbers), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def clean_filename(name: str | None, content_type: str) -> str:
    """A safe label for a file: last path part, no control/bidi/special characters, at most
    MAX_NAME_CHARS, ending in an extension of content_type."""
    extensions = TYPES[content_type]
    last = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    kept = "".join(c for c in last if unicodedata.category(c)[0] not in "CZ" or c == " ")
    kept = "".join(c for c in kept if c not in FORBIDDEN_IN_NAMES)
    kept = re.sub(r"\s+", " ", kept).strip(" .")
    stem, dot, extension = kept.rpartition(".")
    if not dot or f".{extension.lower()}" not in extensions:
        stem, extension = kept, extensions[0][1:]
    stem = stem[:MAX_NAME_CHARS - len(extension) - 1].rstrip(" .")
    if not stem:
        stem = "document" if content_type == "application/pdf" else "image"
    return f"{stem}.{extension.lower()}"


def check(*, data: bytes, filename: str | None, max_bytes: int) -> Checked:
    """An acceptable file's type, safe name and bytes (an image without its metadata); a
    FileRefused otherwise."""
    if not data:
        raise EmptyFile()
    if len(data) > max_bytes:
        raise FileTooLarge(max_bytes)
    content_type = sniff(data)
    if content_type is None:
        raise UnsupportedFile()
    if content_type in PILLOW_FORMATS:
        data = without_metadata(data, PILLOW_FORMATS[content_type])
    return Checked(content_type, clean_filename(filename, content_type), data)


def without_metadata(data: bytes, pillow_format: str) -> bytes:
    """The image saved again with only what it needs to render: turned upright by its EXIF
    orientation, every frame of an animation, its colour profile; no EXIF, XMP or text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[pillow_format])
            if image.width * image.height > MAX_PIXELS:
                raise ImageTooLarge()
            frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
            options: dict[str, Any] = {}
            if len(frames) > 1:
                options.update(save_all=True, append_images=frames[1:])
            elif _orientation(image) != 1:
                frames = [ImageOps.exif_transpose(frames[0])]
                options["quality"] = JPEG_QUALITY
            elif pillow_format == "JPEG":  # saved with its own quantisation: nearly lossless
                frames = [image]
                options["quality"] = "keep"
            if pillow_format == "WEBP":
                options["lossless"] = _lossless_webp(data)
                options.setdefault("quality", JPEG_QUALITY)
            for frame in frames:
                frame.info = {k: v for k, v in frame.info.items() if k in RENDERING_INFO}
            out = io.BytesIO()
            frames[0].save(out, pillow_format, **options)
    except FileRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLarge() from error
    except Exception as error:  # Pillow raises many kinds on hostile bytes; all mean unreadable
        raise UnreadableImage() from error
    return out.getvalue()


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright; also for a missing or broken EXIF)."""
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a malformed EXIF block: show the pixels as they are
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _lossless_webp(data: bytes) -> bool:
    """Whether a WebP's image chunk is lossless (VP8L), so saving it again loses nothing."""
    offset = 12
    while offset + 8 <= len(data):
        kind, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
        if kind in (b"VP8L", b"VP8 "):
            return kind == b"VP8L"
        offset += 8 + size + (size & 1)
    return False


def message_text(name: str, caption: str | None) -> str:
    """The text of the message that carries a file: "[file: name]", then the caption."""
    caption = (caption or "").strip()
    return f"{TEXT_PREFIX}{name}]" + (f" {caption}" if caption else "")


def caption_of(text: str | None, name: str) -> str:
    """The caption a file's message carries (its text without the "[file: name]" label)."""
    return (text or "").removeprefix(f"{TEXT_PREFIX}{name}]").strip()


def store(
    *, session: Session, conversation_id: str, channel: str, data: bytes,
    filename: str | None, max_bytes: int, dedupe_key: str | None = None,
    caption: str | None = None,
) -> Attachment:
    """Check a customer's file and store it with its message; a repeated dedupe_key returns
    the first (FileRefused if the file is not acceptable)."""
    content_type, name, data = check(data=data, filename=filename, max_bytes=max_bytes)
    message = interactions.record(session=session, conversation_id=conversation_id,
                                  direction=Direction.INBOUND, author=Author.CUSTOMER,
                                  text=message_text(name, caption), channel=channel,
                                  dedupe_key=dedupe_key)
    existing = session.scalars(
        select(Attachment).where(Attachment.interaction_id == message.id)).first()
    if existing is not None:
        return existing
    return _keep(session, message, data, content_type, name)


def send_by_agent(
    *, session: Session, conversation_id: str, channel: str, agent_id: int, data: bytes,
    content_type: str, name: str, caption: str | None = None,
) -> Attachment:
    """Store an agent's file, checked (content_type and name as check() gave them), as their
    message to the customer, which the customer's channel then delivers like a reply."""
    message = interactions.record(session=session, conversation_id=conversation_id,
                                  direction=Direction.OUTBOUND, author=Author.AGENT,
                                  text=message_text(name, caption), channel=channel,
                                  agent_id=agent_id)
    return _keep(session, message, data, content_type, name)


def _keep(session: Session, message: Interaction, data: bytes, content_type: str,
          name: str) -> Attachment:
    attachment = Attachment(
        conversation_id=message.conversation_id, interaction_id=message.id,
        customer_id=message.customer_id, channel=message.channel, filename=name,
        content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        data=bytes(data), created_at=message.created_at)
    session.add(attachment)
    session.flush()
    return attachment


def for_messages(*, session: Session, interaction_ids: list[int]) -> dict[int, Attachment]:
    """The files carried by these messages, by message id (without their bytes)."""
    if not interaction_ids:
        return {}
    rows = session.scalars(select(Attachment).where(
        Attachment.interaction_id.in_(interaction_ids)))
    return {row.interaction_id: row for row in rows}


def get(*, session: Session, attachment_id: int,
        conversation_id: str | None = None) -> Attachment | None:
    """A file with its bytes; None if there is none (or it is not this conversation's)."""
    stmt = select(Attachment).options(undefer(Attachment.data)).where(
        Attachment.id == attachment_id)
    if conversation_id is not None:
        stmt = stmt.where(Attachment.conversation_id == conversation_id)
    return session.scalars(stmt).first()


def describe(attachment: Attachment, url: str) -> dict[str, Any]:
    """A file as the widget and the console show it (url: where this viewer downloads it)."""
    return {"id": attachment.id, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size,
            "size_text": human_size(attachment.size),
            "kind": KINDS.get(attachment.content_type, "image"), "url": url}


def metadata(attachment: Attachment) -> dict[str, Any]:
    """A file's record without its bytes (the personal-data export lists these)."""
    return {"id": attachment.id, "conversation_id": attachment.conversation_id,
            "interaction_id": attachment.interaction_id, "channel": attachment.channel,
            "filename": attachment.filename, "content_type": attachment.content_type,
            "size": attachment.size, "sha256": attachment.sha256,
            "created_at": attachment.created_at.isoformat()}
