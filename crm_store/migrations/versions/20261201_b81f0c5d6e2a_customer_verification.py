"""Customer verification: one-time codes, verified conversations and identities.

A conversation used to be "identified" as whoever's email was typed into it. Now a customer is
verified by a one-time code mailed to their address or by the website's signed identity
(crm_store.verification); until then the conversation may open leads and cases, which are
marked `unverified`, but never sees or changes an existing record.

- verification_codes: issued codes (HMAC only), tries, expiry.
- conversations.verified_at / verified_by, channel_identities.verified_at: who proved it, how.
- customers.external_id: the customer's id on the company's website (signed identity).
- cases.unverified, leads.unverified.

Existing channel identities and conversations stay unverified: they were linked by a typed
email, which proved nothing.

Revision ID: b81f0c5d6e2a
Revises: 7a3c1e9d2b44
Create Date: 2026-12-01 13:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b81f0c5d6e2a'
down_revision: str | None = '7a3c1e9d2b44'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'verification_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_verification_codes_customer_id_customers'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_codes')),
    )
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_codes_conversation_id'),
                              ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_codes_email'), ['email'], unique=False)
    # Plain columns added in place (no table rebuild: see the handoff-case migration).
    op.add_column('conversations', sa.Column('verified_at', sa.DateTime(timezone=True),
                                             nullable=True))
    op.add_column('conversations', sa.Column('verified_by', sa.String(length=20), nullable=True))
    op.add_column('channel_identities', sa.Column('verified_at', sa.DateTime(timezone=True),
                                                  nullable=True))
    op.add_column('customers', sa.Column('external_id', sa.String(length=200), nullable=True))
    op.create_index(op.f('ix_customers_external_id'), 'customers', ['external_id'], unique=True)
    for table in ('cases', 'leads'):
        op.add_column(table, sa.Column('unverified', sa.Boolean(), nullable=False,
                                       server_default=sa.false()))


def downgrade() -> None:
    for table in ('cases', 'leads'):
        op.drop_column(table, 'unverified')
    op.drop_index(op.f('ix_customers_external_id'), table_name='customers')
    op.drop_column('customers', 'external_id')
    op.drop_column('channel_identities', 'verified_at')
    op.drop_column('conversations', 'verified_by')
    op.drop_column('conversations', 'verified_at')
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_codes_email'))
        batch_op.drop_index(batch_op.f('ix_verification_codes_conversation_id'))
    op.drop_table('verification_codes')
