"""Serving a customer's file to a browser so that it can only ever be looked at, never run.

The Content-Type is the sniffed one stored with the file (an image type or application/pdf;
never HTML or SVG); `X-Content-Type-Options: nosniff` stops the browser guessing otherwise; the
Content-Security-Policy allows nothing and sandboxes the response, so even a file opened on its
own cannot run a script in Relay's origin. Images are shown inline (thumbnails); a PDF is
always a download (`Content-Disposition: attachment`), so no PDF viewer runs it in our origin.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Response

from crm_store import attachments
from crm_store.attachments import KINDS
from crm_store.models import Attachment

FILE_POLICY = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"


def disposition(attachment: Attachment) -> str:
    """Content-Disposition: inline for images, attachment for PDFs, with both name forms."""
    kind = "attachment" if KINDS.get(attachment.content_type) == "pdf" else "inline"
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_"
                         for c in attachment.filename)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(attachment.filename)}"


def file_response(attachment: Attachment, *, headers: dict[str, str] | None = None) -> Response:
    """The file's bytes with headers that keep the browser from running it."""
    return Response(attachment.data, media_type=attachment.content_type, headers={
        "Content-Disposition": disposition(attachment),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": FILE_POLICY,
        # The bytes of an id never change; private: never kept by a shared cache.
        "Cache-Control": "private, max-age=600",
        **(headers or {}),
    })


# The HTTP status of each refusal of a file (the widget's upload and the console's).
REFUSED_STATUS: dict[type[attachments.FileRefused], int] = {
    attachments.FileTooLarge: 413, attachments.ImageTooLarge: 413,
    attachments.UnsupportedFile: 415, attachments.EmptyFile: 422,
    attachments.UnreadableImage: 422}


def refused_status(refused: attachments.FileRefused) -> int:
    """413 for a file (or image) too large, 415 for one of another type, 422 for an empty or
    unreadable one."""
    return REFUSED_STATUS.get(type(refused), 422)
