"""Keeping the bot token out of the logs (the Bot API URL contains it)."""

from __future__ import annotations

import logging

import telegram

# python-telegram-bot and its HTTP client log the API URL, which carries the token.
LIBRARY_LOGGERS = (telegram.__name__, "httpx", "httpcore")


class TokenRedactor(logging.Filter):
    """Replaces the bot token in log records (PTB logs its API URL, token included, at DEBUG)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the token; never drops a record."""
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "<bot-token>")
            record.args = None
        return True


def redact_token_in_logs(token: str) -> None:
    """Attach a TokenRedactor to PTB's and httpx's loggers (filters do not inherit)."""
    redactor = TokenRedactor(token)
    names = [name for name in logging.Logger.manager.loggerDict
             if name.split(".")[0] in LIBRARY_LOGGERS]
    for name in [*LIBRARY_LOGGERS, *names]:
        target = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactor) and f.token == token for f in target.filters):
            target.addFilter(redactor)
