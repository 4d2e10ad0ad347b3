"""Who is typing in which conversation: the customer (in the widget) or the agent (in the
console), for the other side's "… is typing" line.

Kept in the app's memory, not in the CRM: it is worth a few seconds, and the widget and the
console are served by the same app process. `version` grows with every signal, so the console's
live stream can ring when it changes.
"""

from __future__ import annotations

import threading
import time
from enum import StrEnum
from typing import Any

from fastapi import Request

FRESH_SECONDS = 5.0  # a signal counts this long; the browsers repeat it while typing
MAX_ENTRIES = 10_000  # a flood of ids evicts old entries instead of growing without end


class Typist(StrEnum):
    """Who types."""

    CUSTOMER = "customer"
    AGENT = "agent"


class TypingBoard:
    """The latest typing signal per conversation and side."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, Typist], tuple[float, str]] = {}
        self._lock = threading.Lock()
        self.version = 0

    def touch(self, conversation_id: str, who: Typist, name: str = "") -> None:
        """`who` is typing in the conversation now."""
        with self._lock:
            if len(self._seen) >= MAX_ENTRIES:
                cutoff = time.monotonic() - FRESH_SECONDS
                self._seen = {k: v for k, v in self._seen.items() if v[0] >= cutoff}
                if len(self._seen) >= MAX_ENTRIES:
                    self._seen.clear()
            self._seen[(conversation_id, who)] = (time.monotonic(), name)
            self.version += 1

    def stop(self, conversation_id: str, who: Typist) -> None:
        """`who` sent their message: they are no longer typing."""
        with self._lock:
            if self._seen.pop((conversation_id, who), None) is not None:
                self.version += 1

    def typing(self, conversation_id: str, who: Typist) -> str | None:
        """The name ("" if none) of whoever typed in the last few seconds, or None."""
        with self._lock:
            seen = self._seen.get((conversation_id, who))
        if seen is None or time.monotonic() - seen[0] > FRESH_SECONDS:
            return None
        return seen[1]


_create_lock = threading.Lock()


def board_of(state: Any) -> TypingBoard:
    """The app's board, kept on app.state (created on first use)."""
    with _create_lock:
        board: TypingBoard | None = getattr(state, "typing_board", None)
        if board is None:
            board = TypingBoard()
            state.typing_board = board
        return board


def board(request: Request) -> TypingBoard:
    """FastAPI dependency: the app's typing board."""
    return board_of(request.app.state)
