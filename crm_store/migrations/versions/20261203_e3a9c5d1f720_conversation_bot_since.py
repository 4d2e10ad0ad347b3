"""conversations.bot_since: when the bot last got the conversation back.

The CRM reads Rasa's pause and resume events from the tracker store, behind the turns that made
them; meanwhile the handoff action queues a customer directly and a resolve hands back
directly. An old pause read after a resolve (or an old resume read after a new handoff) used
to move the status back for a moment: a resolved customer reappeared in the queue, a customer
just handed off showed as with the bot. crm_store.support ignores a pause older than
bot_since and a resume older than handoff_at. Existing rows start empty (no pause is ignored).

Revision ID: e3a9c5d1f720
Revises: d7f2b9c41e08
Create Date: 2026-12-03 11:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e3a9c5d1f720'
down_revision: str | None = 'd7f2b9c41e08'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('conversations',
                  sa.Column('bot_since', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite >= 3.35 drops a plain column in place; alembic's batch mode would rebuild the
        # table, and with it cascade to the interactions.
        op.execute('ALTER TABLE conversations DROP COLUMN bot_since')
    else:
        op.drop_column('conversations', 'bot_since')
