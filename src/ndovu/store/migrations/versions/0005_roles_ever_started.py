"""nodes remember every role ever started on them, across stops

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Existing nodes start from what runs on them now (a stopped cluster's nodes from nothing,
which is how joins were decided before).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("roles_ever_started", sa.JSON(), nullable=False,
                                   server_default="[]"))
    nodes = sa.table("nodes", sa.column("roles_started", sa.JSON()),
                     sa.column("roles_ever_started", sa.JSON()))
    op.execute(nodes.update().values(roles_ever_started=nodes.c.roles_started))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("roles_ever_started")
