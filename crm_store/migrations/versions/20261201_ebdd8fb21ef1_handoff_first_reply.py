"""Handoff cases record their first agent reply: time and agent.

Measured on a million interactions (relay.insightbench): finding each handoff's first agent
reply among the interactions at query time took 0.8-1.2 s for a year, whatever the plan; kept
on the case (crm_store.cases.record_first_reply, called when an agent reply is recorded), the
agents' figures read one row per handoff. Existing cases are back-filled from the interactions.

Revision ID: ebdd8fb21ef1
Revises: ad95c6903199
Create Date: 2026-12-01 09:35:24.554567
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ebdd8fb21ef1'
down_revision: str | None = 'ad95c6903199'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIRST = (
    "SELECT i.{column} FROM interactions i WHERE i.conversation_id = cases.conversation_id "
    "AND i.author = 'agent' AND NOT i.note AND i.created_at >= cases.created_at "
    "ORDER BY i.id LIMIT 1"
)


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_reply_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_reply_agent_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_cases_first_reply_agent_id_users'), 'users', ['first_reply_agent_id'], ['id'], ondelete='SET NULL')
    op.execute(
        f"UPDATE cases SET first_reply_at = ({_FIRST.format(column='created_at')}), "
        f"first_reply_agent_id = ({_FIRST.format(column='agent_id')}) "
        "WHERE type = 'handoff' AND conversation_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_first_reply_agent_id_users'), type_='foreignkey')
        batch_op.drop_column('first_reply_agent_id')
        batch_op.drop_column('first_reply_at')
