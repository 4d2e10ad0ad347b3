"""Sending mail: the customers' one-time verification codes, over SMTP (stdlib smtplib).

smtplib rather than aiosmtplib: Relay sends a handful of short mails, from one place (the
action server), and the standard library's client does STARTTLS and login with nothing to
install or pin; the action server runs the blocking send in a thread (`send_later`), so a slow
mail server never holds up a conversation. In development the settings point it at Relay's own
mail server (relay.devmail); in production at the company's (RELAY_SMTP_*).
"""

from __future__ import annotations

import asyncio
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from relay.settings import Settings

logger = logging.getLogger(__name__)

CODE_SUBJECT = "Your Nimbus Drive verification code"
CODE_BODY = """Hello,

Your Nimbus Drive verification code is {code}.

Type it in the chat to confirm it's you. It works once, for {minutes} minutes.

If you did not ask for it, you can ignore this mail: someone may have typed your address by
mistake, and without the code they cannot see or change anything in your account.

Nimbus Drive support
"""
_pending: set[asyncio.Task[None]] = set()  # background sends, kept until done


def code_message(settings: Settings, *, to: str, code: str, minutes: int) -> EmailMessage:
    """The mail carrying a verification code (grouped "123 456" for reading)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = CODE_SUBJECT
    message["Message-ID"] = make_msgid(domain="relay.local")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(CODE_BODY.format(code=f"{code[:3]} {code[3:]}", minutes=minutes))
    return message


_CODE_IN_BODY = re.compile(r"code is (\d{3}) (\d{3})")  # as CODE_BODY groups it


def code_in(body: str) -> str | None:
    """The code a verification mail carries, as the customer types it ("123456"); None if the
    body has none (the tests and benchmarks read it from the development mail server)."""
    found = _CODE_IN_BODY.search(body)
    return found.group(1) + found.group(2) if found else None


def send(settings: Settings, message: EmailMessage) -> None:
    """Deliver one message to the configured SMTP server (STARTTLS and login if configured)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                      timeout=settings.smtp_timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(message)


def send_later(settings: Settings, message: EmailMessage) -> None:
    """Send in the background: the caller answers at once, mail or no mail (no timing hint of
    whether an address has an account); a failure is logged, without the code."""

    async def deliver() -> None:
        try:
            await asyncio.to_thread(send, settings, message)
        except (OSError, smtplib.SMTPException) as error:
            logger.error("could not mail %s via %s:%s: %s", message["To"], settings.smtp_host,
                         settings.smtp_port, type(error).__name__)

    task = asyncio.get_running_loop().create_task(deliver())
    _pending.add(task)
    task.add_done_callback(_pending.discard)
