"""Which channel a conversation came in on, from its Rasa sender id."""

from __future__ import annotations

from typing import Any


def channel_of(conversation_id: str, metadata: dict[str, Any] | None = None) -> str:
    """'web', 'telegram' or 'rest', from the message metadata or the id's prefix."""
    if metadata and metadata.get("channel") in ("web", "telegram"):
        return str(metadata["channel"])
    if conversation_id.startswith("web-"):
        return "web"
    if conversation_id.startswith("tg-"):
        return "telegram"
    return "rest"
