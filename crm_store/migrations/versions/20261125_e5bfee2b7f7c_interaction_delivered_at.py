"""Interaction.delivered_at: which agent replies a channel worker has already claimed.

Delivery used to follow "id greater than the last one delivered", which skips a reply whose
transaction commits after one with a higher id (possible on PostgreSQL). The Telegram bridge
now claims each reply by setting delivered_at instead.

Existing agent replies are marked delivered (at their created_at): the old id cursor had
already delivered them, or deliberately skipped them as history, so none is replayed.

Revision ID: e5bfee2b7f7c
Revises: e6479dc4b377
Create Date: 2026-11-25 15:38:41.992898
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e5bfee2b7f7c'
down_revision: str | None = 'e6479dc4b377'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_interactions_undelivered', ['channel', 'author', 'delivered_at'], unique=False)

    interactions = sa.table(
        'interactions',
        sa.column('direction', sa.String()),
        sa.column('author', sa.String()),
        sa.column('note', sa.Boolean()),
        sa.column('created_at', sa.DateTime(timezone=True)),
        sa.column('delivered_at', sa.DateTime(timezone=True)),
    )
    op.execute(
        interactions.update()
        .where(interactions.c.direction == 'outbound', interactions.c.author == 'agent',
               interactions.c.note.is_(sa.false()))
        .values(delivered_at=interactions.c.created_at)
    )


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_index('ix_interactions_undelivered')
        batch_op.drop_column('delivered_at')
