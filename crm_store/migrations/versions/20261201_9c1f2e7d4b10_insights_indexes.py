"""Indexes for the Insights figures on a million interactions (relay.insightbench).

Date ranges over conversations, cases and leads; the FAQ answers and question outcomes of a
range (partial indexes: most messages have neither); requests for a person by intent. On
PostgreSQL two indexes carry extra columns (INCLUDE) so that "the message before each request
for a person" is found without touching the table: faq-entries over a year went from 0.8 s to
0.37 s (docs/insights.md).

Revision ID: 9c1f2e7d4b10
Revises: ebdd8fb21ef1
Create Date: 2026-12-01 09:50:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9c1f2e7d4b10'
down_revision: str | None = 'ebdd8fb21ef1'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_conversations_created_at', 'conversations', ['created_at'])
    op.create_index('ix_cases_type_created_at', 'cases', ['type', 'created_at'])
    op.create_index('ix_leads_created_at', 'leads', ['created_at'])
    op.create_index('ix_interactions_answers', 'interactions', ['created_at', 'faq_entry_id'],
                    postgresql_where=sa.text('faq_entry_id IS NOT NULL'),
                    sqlite_where=sa.text('faq_entry_id IS NOT NULL'))
    op.create_index('ix_interactions_outcomes', 'interactions',
                    ['created_at', 'faq_outcome', 'channel'],
                    postgresql_where=sa.text('faq_outcome IS NOT NULL'),
                    sqlite_where=sa.text('faq_outcome IS NOT NULL'))
    op.create_index('ix_interactions_intent_created_at', 'interactions', ['intent', 'created_at'],
                    postgresql_include=['conversation_id', 'id', 'channel'])
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_interactions_conversation_id_id', 'interactions')
        op.create_index('ix_interactions_conversation_id_id', 'interactions',
                        ['conversation_id', 'id'], postgresql_include=['author', 'faq_entry_id'])


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_interactions_conversation_id_id', 'interactions')
        op.create_index('ix_interactions_conversation_id_id', 'interactions',
                        ['conversation_id', 'id'])
    op.drop_index('ix_interactions_intent_created_at', 'interactions')
    op.drop_index('ix_interactions_outcomes', 'interactions')
    op.drop_index('ix_interactions_answers', 'interactions')
    op.drop_index('ix_leads_created_at', 'leads')
    op.drop_index('ix_cases_type_created_at', 'cases')
    op.drop_index('ix_conversations_created_at', 'conversations')
