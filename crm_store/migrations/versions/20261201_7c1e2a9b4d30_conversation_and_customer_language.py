"""Conversation.language and Customer.language: the language customers write in.

The conversation's language is the one the bot detected last (Rasa's `language` slot, learnt
from its event stream by crm_store.ingest); the customer's is their latest conversation's, or
what an agent or the API set. Both are ISO 639-1 codes from relay.languages; NULL while
unknown. Plain columns: added and dropped in place on SQLite and PostgreSQL.

Revision ID: 7c1e2a9b4d30
Revises: b81f0c5d6e2a (re-parented after the verification and cluster migrations when merging)
Create Date: 2026-12-01 13:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7c1e2a9b4d30'
down_revision: str | None = 'b81f0c5d6e2a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('conversations', sa.Column('language', sa.String(length=12), nullable=True))
    op.add_column('customers', sa.Column('language', sa.String(length=12), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite >= 3.35 drops a plain column in place; alembic's batch mode would rebuild.
        op.execute('ALTER TABLE customers DROP COLUMN language')
        op.execute('ALTER TABLE conversations DROP COLUMN language')
    else:
        op.drop_column('customers', 'language')
        op.drop_column('conversations', 'language')
