"""cluster_keys and node_host_keys: each cluster's SSH key pair and its nodes' pinned host
keys, for providers that make the machines (OpenStack)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_name", sa.String(length=80), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cluster_name"),
    )
    op.create_table(
        "node_host_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_name", sa.String(length=80), nullable=False),
        sa.Column("node_name", sa.String(length=160), nullable=False),
        sa.Column("host_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_name"),
    )
    op.create_index("ix_node_host_keys_cluster_name", "node_host_keys", ["cluster_name"])


def downgrade() -> None:
    op.drop_index("ix_node_host_keys_cluster_name", table_name="node_host_keys")
    op.drop_table("node_host_keys")
    op.drop_table("cluster_keys")
