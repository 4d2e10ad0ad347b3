"""What Relay keeps of the text people send: no NUL, no control characters, no bidi overrides.

PostgreSQL refuses NUL in text, so a chat message carrying one failed where the CRM or Rasa's
tracker store wrote it. Other C0 and C1 controls (terminal escapes, BEL) mean nothing to a
person reading a transcript. The bidi embedding, override and isolate characters reorder what
an agent sees ("\u202eevE" shows as "Eve"). Tabs and line breaks stay (a carriage return
becomes a line break), and so do the zero-width joiner (emoji sequences), the zero-width
non-joiner (Persian, Hindi) and the left-to-right and right-to-left marks.
"""

from __future__ import annotations

import re

_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """The text without the characters above, line breaks as "\\n"."""
    return _UNWANTED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def unwanted(text: str) -> bool:
    """Whether the text has a character clean() removes (a carriage return aside)."""
    return _UNWANTED.search(text) is not None


def refuse_unwanted(text: str) -> str:
    """A field's check for the CRM's API: ValueError (a 422 there) for control characters."""
    if unwanted(text):
        raise ValueError("must not contain control characters (such as NUL, escape codes or "
                         "text-direction overrides)")
    return text
