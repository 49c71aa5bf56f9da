"""users.disabled; login_failures, for the throttle of failed logins; operations.requested_by
and audit_events: who asked for what

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_name", "address"),
    )
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(64), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("user_name", sa.String(64), nullable=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(400), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_events")
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("requested_by")
    op.drop_table("login_failures")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled")
