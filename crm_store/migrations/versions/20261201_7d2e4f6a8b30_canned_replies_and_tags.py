"""Canned replies (managed by admins) and conversation tags, for the agent console.

Revision ID: 7d2e4f6a8b30
Revises: 3b7c1d9e5a21
Create Date: 2026-12-01 12:20:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7d2e4f6a8b30'
down_revision: str | None = '3b7c1d9e5a21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'canned_replies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies')),
        sa.UniqueConstraint('title', name=op.f('uq_canned_replies_title')),
    )
    op.create_table(
        'conversation_tags',
        sa.Column('conversation_id', sa.String(length=200), nullable=False),
        sa.Column('tag', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                                name=op.f('fk_conversation_tags_conversation_id_conversations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('conversation_id', 'tag', name=op.f('pk_conversation_tags')),
    )
    op.create_index(op.f('ix_conversation_tags_tag'), 'conversation_tags', ['tag'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_conversation_tags_tag'), table_name='conversation_tags')
    op.drop_table('conversation_tags')
    op.drop_table('canned_replies')
