"""machines: existing hosts registered for the machines provider

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

One row per host an operator registered (address, SSH port, user and private key, the host
key pinned at first contact, labels). A machine is free while ``node_name`` is NULL;
otherwise it carries that node of ``cluster_name`` (its group and index too, so the
provider lists a cluster's nodes from this table alone).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "machines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("host_key", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("cluster_name", sa.String(length=80), nullable=True),
        sa.Column("node_name", sa.String(length=160), nullable=True),
        sa.Column("node_group", sa.String(length=80), nullable=True),
        sa.Column("node_index", sa.Integer(), nullable=True),
        sa.Column("powered_on", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("address"),
        sa.UniqueConstraint("node_name"),
    )
    op.create_index("ix_machines_cluster_name", "machines", ["cluster_name"])


def downgrade() -> None:
    op.drop_index("ix_machines_cluster_name", table_name="machines")
    op.drop_table("machines")
