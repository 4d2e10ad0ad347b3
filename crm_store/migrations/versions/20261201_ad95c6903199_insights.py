"""Insights: what became of each question, when cases were resolved, knowledge gaps, segments.

interactions.faq_outcome / faq_score: the FAQ search's outcome (answered / clarify / declined)
for a customer's message, recorded at ingest. cases.resolved_at: the time to resolution (back-
filled from updated_at for cases already resolved or closed). knowledge_gap_runs/_clusters: the
questions the bot could not answer, grouped (crm_store.gaps). customer_segments: RFM scores and
loyalty segments (crm_store.segments). The manager role needs no schema change: roles are strings.

Revision ID: ad95c6903199
Revises: 49efa53c037e
Create Date: 2026-12-01 08:39:18.324450
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ad95c6903199'
down_revision: str | None = '49efa53c037e'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('knowledge_gap_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('questions', sa.Integer(), nullable=False),
    sa.Column('clusters', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_gap_runs'))
    )
    with op.batch_alter_table('knowledge_gap_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_gap_runs_started_at'), ['started_at'], unique=False)

    op.create_table('customer_segments',
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('recency_days', sa.Float(), nullable=False),
    sa.Column('frequency', sa.Integer(), nullable=False),
    sa.Column('monetary', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('r_score', sa.Integer(), nullable=False),
    sa.Column('f_score', sa.Integer(), nullable=False),
    sa.Column('m_score', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=20), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_segments_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_segments'))
    )
    with op.batch_alter_table('customer_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_segments_segment'), ['segment'], unique=False)

    op.create_table('knowledge_gap_clusters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('weekly', sa.JSON(), nullable=False),
    sa.Column('trend', sa.Float(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('nearest_entry_id', sa.String(length=100), nullable=True),
    sa.Column('nearest_question', sa.Text(), nullable=True),
    sa.Column('nearest_similarity', sa.Float(), nullable=True),
    sa.Column('agent_answer', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('applied_entry_id', sa.String(length=100), nullable=True),
    sa.Column('applied_by', sa.String(length=200), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['run_id'], ['knowledge_gap_runs.id'], name=op.f('fk_knowledge_gap_clusters_run_id_knowledge_gap_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_gap_clusters'))
    )
    with op.batch_alter_table('knowledge_gap_clusters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_gap_clusters_run_id'), ['run_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('faq_outcome', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('faq_score', sa.Float(), nullable=True))

    cases = sa.table(
        'cases',
        sa.column('status', sa.String()),
        sa.column('updated_at', sa.DateTime(timezone=True)),
        sa.column('resolved_at', sa.DateTime(timezone=True)),
    )
    op.execute(
        cases.update()
        .where(cases.c.status.in_(('resolved', 'closed')))
        .values(resolved_at=cases.c.updated_at)
    )


def downgrade() -> None:
    with op.batch_alter_table('interactions', schema=None) as batch_op:
        batch_op.drop_column('faq_score')
        batch_op.drop_column('faq_outcome')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('resolved_at')

    with op.batch_alter_table('knowledge_gap_clusters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_gap_clusters_run_id'))

    op.drop_table('knowledge_gap_clusters')
    with op.batch_alter_table('customer_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_segments_segment'))

    op.drop_table('customer_segments')
    with op.batch_alter_table('knowledge_gap_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_knowledge_gap_runs_started_at'))

    op.drop_table('knowledge_gap_runs')
