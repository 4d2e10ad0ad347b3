"""Conversation.handoff_case_id: the case the current handoff opened.

Resolving a handoff used to resolve every open case of the conversation, including, say, a
problem case the customer had reported earlier in it (the bot then told them it was resolved).
The support desk now records the case each handoff opens and resolves only that one.

Conversations waiting for or handled by a person get their latest open handoff case.

Not a foreign key: on SQLite adding one means rebuilding `conversations`, and dropping that
table (with foreign keys on, as crm_store.db sets them) deletes its interactions (ON DELETE
CASCADE). A plain column is added and dropped in place on both databases.

Revision ID: 564df016a613
Revises: e5bfee2b7f7c
Create Date: 2026-12-01 10:10:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '564df016a613'
down_revision: str | None = 'e5bfee2b7f7c'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('conversations', sa.Column('handoff_case_id', sa.Integer(), nullable=True))

    conversations = sa.table(
        'conversations',
        sa.column('id', sa.String()),
        sa.column('status', sa.String()),
        sa.column('handoff_case_id', sa.Integer()),
    )
    cases = sa.table(
        'cases',
        sa.column('id', sa.Integer()),
        sa.column('conversation_id', sa.String()),
        sa.column('type', sa.String()),
        sa.column('status', sa.String()),
    )
    latest_handoff_case = (
        sa.select(sa.func.max(cases.c.id))
        .where(cases.c.conversation_id == conversations.c.id, cases.c.type == 'handoff',
               cases.c.status.in_(('open', 'pending')))
        .scalar_subquery()
    )
    op.execute(
        conversations.update()
        .where(conversations.c.status.in_(('handoff', 'agent')))
        .values(handoff_case_id=latest_handoff_case)
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite >= 3.35 drops a plain column in place; alembic's batch mode would rebuild.
        op.execute('ALTER TABLE conversations DROP COLUMN handoff_case_id')
    else:
        op.drop_column('conversations', 'handoff_case_id')
