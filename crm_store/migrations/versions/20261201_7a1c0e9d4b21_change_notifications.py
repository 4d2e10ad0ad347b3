"""PostgreSQL announces changes: NOTIFY relay_changes on new messages and status changes.

The API's event streams (the widget's, the console's) wait for these instead of polling the
database per open stream (crm_store/changes.py). Payloads: `c:<conversation id>` when a message
is written to a conversation or its status changes, and `q` when the agents' queue changes (a
status change, or a message in a conversation that is not with the bot). Triggers, so every
writer is covered (the API, the action server, the Telegram bridge, SQL by hand) and the
notification is sent when, and only if, the transaction commits. SQLite has no NOTIFY: there
one reader per API process watches the tables instead (crm_store/changes.py).

Revision ID: 7a1c0e9d4b21
Revises: 9c1f2e7d4b10
Create Date: 2026-12-01 11:10:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '7a1c0e9d4b21'
down_revision: str | None = '9c1f2e7d4b10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "relay_changes"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
CREATE FUNCTION relay_notify_interaction() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'c:' || NEW.conversation_id);
    IF EXISTS (SELECT 1 FROM conversations
               WHERE id = NEW.conversation_id AND status <> 'bot') THEN
        PERFORM pg_notify('{CHANNEL}', 'q');
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql""")
    op.execute(f"""
CREATE FUNCTION relay_notify_conversation() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.status = 'bot' THEN
        RETURN NULL;  -- a new conversation with the bot: nobody waits for it
    END IF;
    PERFORM pg_notify('{CHANNEL}', 'c:' || NEW.id);
    PERFORM pg_notify('{CHANNEL}', 'q');
    RETURN NULL;
END $$ LANGUAGE plpgsql""")
    op.execute("""
CREATE TRIGGER interactions_notify AFTER INSERT ON interactions
    FOR EACH ROW EXECUTE FUNCTION relay_notify_interaction()""")
    op.execute("""
CREATE TRIGGER conversations_notify AFTER INSERT OR UPDATE OF status, assigned_agent_id
    ON conversations FOR EACH ROW EXECUTE FUNCTION relay_notify_conversation()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS conversations_notify ON conversations")
    op.execute("DROP TRIGGER IF EXISTS interactions_notify ON interactions")
    op.execute("DROP FUNCTION IF EXISTS relay_notify_conversation()")
    op.execute("DROP FUNCTION IF EXISTS relay_notify_interaction()")
