"""Which channel a conversation came in on, from the message metadata or its Rasa sender id."""

from __future__ import annotations

from typing import Any

from relay import channels


def channel_of(conversation_id: str, metadata: dict[str, Any] | None = None) -> str:
    """The channel the gateway names in metadata, else the one the id's prefix implies."""
    return channels.channel_of(conversation_id, metadata)
