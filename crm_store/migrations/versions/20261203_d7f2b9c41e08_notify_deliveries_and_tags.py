"""PostgreSQL also announces a message's delivery moving on and a conversation's tags changing.

An agent's reply shows "sending…" until the channel took it, and "failed" with the reason
when it never will (the customer blocked the bot): the Telegram bridge's delivery worker sets
delivered_at or failed_at in another process, and the console showed it only at its next
safety re-read. Tags are shown in the queue and on the conversation. Payload as before:
`c:<conversation id>` (crm_store/changes.py); a tag change also wakes the queue (`q`).
SQLite has no NOTIFY: its watcher follows these itself.

Revision ID: d7f2b9c41e08
Revises: c4e8a1f0b6d3
Create Date: 2026-12-03 10:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = 'd7f2b9c41e08'
down_revision: str | None = 'c4e8a1f0b6d3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "relay_changes"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
CREATE FUNCTION relay_notify_delivery() RETURNS trigger AS $$
BEGIN
    IF NEW.delivered_at IS DISTINCT FROM OLD.delivered_at
       OR NEW.failed_at IS DISTINCT FROM OLD.failed_at THEN
        PERFORM pg_notify('{CHANNEL}', 'c:' || NEW.conversation_id);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql""")
    op.execute(f"""
CREATE FUNCTION relay_notify_tag() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'c:' || COALESCE(NEW.conversation_id, OLD.conversation_id));
    PERFORM pg_notify('{CHANNEL}', 'q');
    RETURN NULL;
END $$ LANGUAGE plpgsql""")
    op.execute("""
CREATE TRIGGER interactions_delivery_notify AFTER UPDATE OF delivered_at, failed_at
    ON interactions FOR EACH ROW EXECUTE FUNCTION relay_notify_delivery()""")
    op.execute("""
CREATE TRIGGER conversation_tags_notify AFTER INSERT OR DELETE ON conversation_tags
    FOR EACH ROW EXECUTE FUNCTION relay_notify_tag()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS conversation_tags_notify ON conversation_tags")
    op.execute("DROP TRIGGER IF EXISTS interactions_delivery_notify ON interactions")
    op.execute("DROP FUNCTION IF EXISTS relay_notify_tag()")
    op.execute("DROP FUNCTION IF EXISTS relay_notify_delivery()")
