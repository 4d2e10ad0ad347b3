"""Agent replies waiting to reach customers, read from the CRM's Interaction table.

Agents' replies are written by the console (any process); the widget stream and the Telegram
bridge find them here by id, so delivery works across processes without a message bus.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.models import Interaction


def agent_replies_after(
    *, session: Session, conversation_id: str, after_id: int, limit: int = 100
) -> list[Interaction]:
    """A conversation's agent replies (not notes) with id > after_id, oldest first."""
    return list(session.scalars(
        select(Interaction)
        .where(Interaction.conversation_id == conversation_id, Interaction.id > after_id,
               Interaction.author == "agent", Interaction.direction == "outbound",
               Interaction.note.is_(False))
        .order_by(Interaction.id).limit(limit)
    ).all())


def pending_agent_replies(
    *, session: Session, id_prefix: str, after_id: int, limit: int = 100
) -> list[Interaction]:
    """Agent replies (not notes) of conversations whose id starts with id_prefix, after after_id."""
    return list(session.scalars(
        select(Interaction)
        .where(Interaction.id > after_id, Interaction.conversation_id.startswith(id_prefix),
               Interaction.author == "agent", Interaction.direction == "outbound",
               Interaction.note.is_(False))
        .order_by(Interaction.id).limit(limit)
    ).all())


def last_interaction_id(*, session: Session) -> int:
    """The highest interaction id so far (0 for an empty table)."""
    return int(session.scalar(select(func.max(Interaction.id))) or 0)


class DeliveryCursor:
    """The id of the last agent reply delivered on a channel, kept in a small JSON file.

    The file is keyed by a hash of the database URL (which may hold a password), so pointing
    the process at another database starts a fresh cursor instead of skipping its replies.
    """

    def __init__(self, path: Path, database_url: str) -> None:
        self.path = path
        self.database_url = hashlib.sha256(database_url.encode()).hexdigest()[:16]

    def load(self) -> int | None:
        """The stored cursor, or None if this database has none yet."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        value = data.get(self.database_url) if isinstance(data, dict) else None
        return int(value) if isinstance(value, int) else None

    def save(self, last_id: int) -> None:
        """Store the cursor atomically (write a temporary file, then rename)."""
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data[self.database_url] = last_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)
