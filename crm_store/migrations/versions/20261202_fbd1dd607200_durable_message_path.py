"""The durable message path: an inbox, Rasa's events read from its tracker store, one outbox.

* `inbox`: what a channel received (a Telegram update, a widget message), stored before the
  channel is told it arrived, until it has been handed to Rasa.
* `event_cursors`, `event_quarantine`: the CRM reads Rasa's events from Rasa's own tracker
  store (table `events`) instead of an in-memory broker; the cursor says how far, and an event
  it cannot apply is quarantined alone. The cursor starts at the newest event already in the
  tracker store: those were posted by the old broker, and re-applying their pauses and resumes
  would send customers stale notices.
* `interactions`: the outbox columns — failed_at and delivery_error (e.g. the customer blocked
  the bot), delivery_attempts and next_attempt_at (back-off, Telegram's retry_after), and the
  buttons a bot message carries. Bot replies written before this were sent in their turn by
  the gateway: they are marked delivered at their created_at, so no worker sends them again.

Columns are added in place (no table rebuild: on SQLite that would cascade to interactions).

Revision ID: fbd1dd607200
Revises: 7d2e4f6a8b30 (re-parented after the console's migrations when merging)
Create Date: 2026-12-02 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'fbd1dd607200'
down_revision: str | None = '7d2e4f6a8b30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'inbox',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('external_id', sa.String(length=100), nullable=False),
        sa.Column('conversation_id', sa.String(length=200), nullable=True),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('received_at', UTC_DATETIME, nullable=False),
        sa.Column('processed_at', UTC_DATETIME, nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox')),
        sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_inbox_channel_external_id')),
    )
    op.create_index('ix_inbox_pending', 'inbox', ['channel', 'processed_at', 'id'], unique=False)
    op.create_index(op.f('ix_inbox_conversation_id'), 'inbox', ['conversation_id'], unique=False)
    op.create_table(
        'event_cursors',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('holes', sa.JSON(), nullable=False),
        sa.Column('updated_at', UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_event_cursors')),
    )
    op.create_table(
        'event_quarantine',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('sender_id', sa.String(length=255), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('quarantined_at', UTC_DATETIME, nullable=False),
        sa.Column('released_at', UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event_quarantine')),
        sa.UniqueConstraint('event_id', name=op.f('uq_event_quarantine_event_id')),
    )
    op.create_index(op.f('ix_event_quarantine_sender_id'), 'event_quarantine', ['sender_id'],
                    unique=False)
    op.add_column('interactions', sa.Column('failed_at', UTC_DATETIME, nullable=True))
    op.add_column('interactions', sa.Column('delivery_error', sa.Text(), nullable=True))
    op.add_column('interactions', sa.Column('delivery_attempts', sa.Integer(), nullable=False,
                                            server_default='0'))
    op.add_column('interactions', sa.Column('next_attempt_at', UTC_DATETIME, nullable=True))
    op.add_column('interactions', sa.Column('buttons', sa.JSON(), nullable=True))

    op.execute(
        "UPDATE interactions SET delivered_at = created_at"
        " WHERE direction = 'outbound' AND author = 'bot' AND delivered_at IS NULL"
    )
    bind = op.get_bind()
    position = 0
    if 'events' in sa.inspect(bind).get_table_names():
        position = bind.execute(sa.text("SELECT coalesce(max(id), 0) FROM events")).scalar_one()
    cursors = sa.table('event_cursors', sa.column('name', sa.String()),
                       sa.column('position', sa.Integer()), sa.column('holes', sa.JSON()),
                       sa.column('updated_at', UTC_DATETIME))
    op.execute(cursors.insert().values(name='crm', position=position, holes={},
                                       updated_at=sa.func.current_timestamp()))


def downgrade() -> None:
    for column in ('buttons', 'next_attempt_at', 'delivery_attempts', 'delivery_error',
                   'failed_at'):
        if op.get_bind().dialect.name == 'sqlite':
            # SQLite >= 3.35 drops a plain column in place; alembic's batch mode would rebuild.
            op.execute(f'ALTER TABLE interactions DROP COLUMN {column}')
        else:
            op.drop_column('interactions', column)
    op.drop_index(op.f('ix_event_quarantine_sender_id'), table_name='event_quarantine')
    op.drop_table('event_quarantine')
    op.drop_table('event_cursors')
    op.drop_index(op.f('ix_inbox_conversation_id'), table_name='inbox')
    op.drop_index('ix_inbox_pending', table_name='inbox')
    op.drop_table('inbox')
