"""inbound_messages: the per-user index leads with user_id (issue 16, part 5)

Without table statistics PostgreSQL's planner took (channel, account, user_id, received_at)
for the dedupe lookup and the state probe, which filter on (channel, account, msg_key): an
equality on its first two columns, so it looked as good as the unique key, and it scanned an
account's whole message log. Led by user_id, it no longer matches those queries at all, and
the unique key is the only index they can use; lookups of a user's messages (always with
channel and account too) use it as before.

Revision ID: 0017_perftx_inbound_user_index
Revises: 0016_faults_rate_counters
Create Date: 2026-11-30 08:40:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = "0017_perftx_inbound_user_index"
down_revision: str | Sequence[str] | None = "0016_faults_rate_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_user")
        batch_op.create_index(
            "ix_inbound_messages_user", ["user_id", "channel", "account", "received_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_user")
        batch_op.create_index(
            "ix_inbound_messages_user", ["channel", "account", "user_id", "received_at"]
        )
