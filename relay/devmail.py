"""The development mail server: `python -m relay.devmail` (relay.run starts it in development).

An aiosmtpd SMTP server on RELAY_HOST:RELAY_DEV_MAIL_PORT that delivers nothing: it keeps every
mail as a .eml file under var/mail (settings.mail_dir) and logs one line per mail, so the codes
Relay mails to customers can be read on the development page GET /dev/mail (404 outside
development), in var/logs/mail.log, or by the tests, which run this same server.
"""

from __future__ import annotations

import html
import logging
import signal
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from crm_store.api.deps import SettingsDep
from relay.settings import get_settings

logger = logging.getLogger("relay.devmail")
PAGE_MAILS = 50


@dataclass(frozen=True)
class Mail:
    """One received mail."""

    path: Path
    to: str
    subject: str
    body: str
    received: float


class MaildirHandler:
    """aiosmtpd handler: each message becomes a file in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message; tell the sender it was accepted."""
        with self._lock:
            self._count += 1
            name = f"{time.time_ns()}-{self._count:05d}.eml"
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".{name}.part"  # not *.eml: readers never see it
        temporary.write_bytes(envelope.content)
        temporary.rename(self.directory / name)  # readers never see half a mail
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        logger.info("mail to %s: %s (%s)", ", ".join(envelope.rcpt_tos), parsed["Subject"], name)
        return "250 Message accepted for delivery"


def read_mails(directory: Path) -> list[Mail]:
    """The mails received so far, oldest first."""
    mails = []
    for path in sorted(directory.glob("[!.]*.eml")):
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        part = parsed.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        mails.append(Mail(path=path, to=str(parsed["To"] or ""),
                          subject=str(parsed["Subject"] or ""), body=str(body),
                          received=path.stat().st_mtime))
    return mails


router = APIRouter(include_in_schema=False)


@router.get("/dev/mail", response_class=HTMLResponse)
def mail_page(settings: SettingsDep) -> HTMLResponse:
    """The latest mails the development mail server received (development only)."""
    if settings.env != "development" or not settings.dev_mail:
        raise HTTPException(404, "Not Found")
    items = []
    for mail in reversed(read_mails(settings.mail_dir)[-PAGE_MAILS:]):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mail.received))
        items.append(f"<li><div><b>{html.escape(mail.subject)}</b> to {html.escape(mail.to)}"
                     f" <small>{when}</small></div><pre>{html.escape(mail.body)}</pre></li>")
    listed = "".join(items) or "<li>No mail yet.</li>"
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Relay development mail"
        "</title></head><body><h1>Mail sent by Relay (development)</h1>"
        f"<p>Kept in {html.escape(str(settings.mail_dir))}.</p><ul>{listed}</ul></body></html>")


def main() -> None:
    """Serve until SIGTERM or Ctrl-C."""
    from aiosmtpd.controller import Controller

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    controller = Controller(MaildirHandler(settings.mail_dir), hostname=settings.host,
                            port=settings.dev_mail_port)
    controller.start()
    logger.info("development mail server on %s:%s, keeping mail in %s", settings.host,
                settings.dev_mail_port, settings.mail_dir)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
