"""Satisfaction ratings: the widget asks for a 1-5 score after a resolved handoff.

Revision ID: 3b7c1d9e5a21
Revises: 7c1e2a9b4d30 (re-parented after the language migration when merging)
Create Date: 2026-12-01 12:15:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3b7c1d9e5a21'
down_revision: str | None = '7c1e2a9b4d30'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'satisfaction_ratings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=200), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_satisfaction_ratings_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                                name=op.f('fk_satisfaction_ratings_conversation_id_conversations'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_satisfaction_ratings')),
        sa.UniqueConstraint('case_id', name=op.f('uq_satisfaction_ratings_case_id')),
    )
    op.create_index(op.f('ix_satisfaction_ratings_conversation_id'), 'satisfaction_ratings',
                    ['conversation_id'], unique=False)
    op.create_index(op.f('ix_satisfaction_ratings_created_at'), 'satisfaction_ratings',
                    ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_satisfaction_ratings_created_at'), table_name='satisfaction_ratings')
    op.drop_index(op.f('ix_satisfaction_ratings_conversation_id'),
                  table_name='satisfaction_ratings')
    op.drop_table('satisfaction_ratings')
