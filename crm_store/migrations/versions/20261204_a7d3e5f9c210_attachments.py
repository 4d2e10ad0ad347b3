"""attachments: files customers send (images, PDFs), with the message that carries them.

The bytes are stored in the table (bytea on PostgreSQL, BLOB on SQLite): the database is what
every API worker and the Telegram bridge already share, so no replica needs a volume of its
own, and erasing a customer removes their files in the same transaction as their messages.

Revision ID: a7d3e5f9c210
Revises: e3a9c5d1f720
Create Date: 2026-12-04 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7d3e5f9c210'
down_revision: str | None = 'e3a9c5d1f720'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=200), nullable=False),
        sa.Column('interaction_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=50), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                                name=op.f('fk_attachments_conversation_id_conversations'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_attachments_customer_id_customers'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['interaction_id'], ['interactions.id'],
                                name=op.f('fk_attachments_interaction_id_interactions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments')),
        sa.UniqueConstraint('interaction_id', name=op.f('uq_attachments_interaction_id')),
    )
    op.create_index(op.f('ix_attachments_conversation_id'), 'attachments', ['conversation_id'],
                    unique=False)
    op.create_index(op.f('ix_attachments_customer_id'), 'attachments', ['customer_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_attachments_customer_id'), table_name='attachments')
    op.drop_index(op.f('ix_attachments_conversation_id'), table_name='attachments')
    op.drop_table('attachments')
