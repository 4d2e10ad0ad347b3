"""Relay's own replies already given in a turn are marked delivered.

Notices from the support desk (a person joined, the bot is back) are outbound messages of
author "system" that the customer's channel delivers (crm_store.interactions.out_of_turn):
undelivered until a worker claims them. The gateway's system replies (the message was saved
while Rasa was down, a polite answer to a photo) were given in the turn; from now on they are
written delivered, and this marks the existing ones (at their created_at), so no worker sends
them again. Data only: the schema does not change.

Revision ID: 49efa53c037e
Revises: 564df016a613
Create Date: 2026-12-01 11:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '49efa53c037e'
down_revision: str | None = '564df016a613'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE interactions SET delivered_at = created_at"
        " WHERE direction = 'outbound' AND author = 'system' AND delivered_at IS NULL"
    )


def downgrade() -> None:
    pass  # which rows were marked here is not recorded; leaving them delivered is harmless
