"""Which channel a conversation came in on, from the message metadata or its Rasa sender id."""

from __future__ import annotations

from typing import Any

from crm_store.conversations import channel_for


def channel_of(conversation_id: str, metadata: dict[str, Any] | None = None) -> str:
    """'web' or 'telegram' as the gateway says in metadata, else as the id's prefix implies."""
    if metadata and metadata.get("channel") in ("web", "telegram"):
        return str(metadata["channel"])
    return channel_for(conversation_id)
