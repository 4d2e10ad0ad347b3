"""user_sessions: console and API logins kept on the server, so they can be ended.

The console's cookie and the API's bearer token used to be signed blobs valid for 12 hours:
logging out only deleted the browser's copy, and there was no way to take a token back. Each
login is now a row (only the token's hash is kept); logging out, deactivating the user or
`crm_store.users sign-out` revokes it. An API token handed to a console page (Insights) has
the console login as parent_id and is revoked with it. Logins made before this migration are not in the table,
so everyone logs in again once.

Revision ID: 7a3c1e9d2b44
Revises: 7a1c0e9d4b21
Create Date: 2026-12-01 12:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7a3c1e9d2b44'
down_revision: str | None = '7a1c0e9d4b21'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_user_sessions_user_id_users'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['user_sessions.id'],
                                name=op.f('fk_user_sessions_parent_id_user_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash')),
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_sessions_parent_id'), ['parent_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_parent_id'))
        batch_op.drop_index(batch_op.f('ix_user_sessions_user_id'))
    op.drop_table('user_sessions')
