"""Keeping the bot token out of the logs (the Bot API URL contains it), tracebacks included.

PTB puts the token into the URL of every request and into some exception messages ("The token
`…` was rejected by the server"), which its retry loop logs with the traceback. So the filter
rewrites the formatted traceback too, it sits on the root logger's handlers as well as on the
libraries' loggers, and an uncaught exception's traceback is redacted before it is printed.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from types import TracebackType

import telegram

# python-telegram-bot and its HTTP client log the API URL, which carries the token.
LIBRARY_LOGGERS = (telegram.__name__, "httpx", "httpcore")
REDACTED = "<bot-token>"


class TokenRedactor(logging.Filter):
    """Replaces the bot token in log records (PTB logs its API URL, token included, at DEBUG)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def redact(self, text: str) -> str:
        """text without the token."""
        return text.replace(self.token, REDACTED)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message and traceback without the token; never drops one."""
        message = record.getMessage()
        if self.token in message:
            record.msg = self.redact(message)
            record.args = None
        if record.exc_info:
            # Formatted once here, redacted; the handler's formatter then uses exc_text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def redact_token_in_logs(token: str) -> None:
    """Attach a TokenRedactor to PTB's and httpx's loggers (filters do not inherit), to the
    root logger's handlers (records of every logger), and to uncaught exceptions."""
    redactor = TokenRedactor(token)
    names = [name for name in logging.Logger.manager.loggerDict
             if name.split(".")[0] in LIBRARY_LOGGERS]
    targets: list[logging.Filterer] = [logging.getLogger(name)
                                       for name in [*LIBRARY_LOGGERS, *names]]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, TokenRedactor) and f.token == token for f in target.filters):
            target.addFilter(redactor)
    sys.excepthook = functools.partial(_print_redacted, redactor)


def _print_redacted(redactor: TokenRedactor, kind: type[BaseException], error: BaseException,
                    trace: TracebackType | None) -> None:
    """sys.excepthook: an uncaught exception's traceback, without the token."""
    sys.stderr.write(redactor.redact("".join(traceback.format_exception(kind, error, trace))))
