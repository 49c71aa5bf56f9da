"""networks, resource pools and datastores; where a cluster's nodes go

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("port_group", sa.String(length=200), nullable=False),
        sa.Column("is_dhcp", sa.Boolean(), nullable=False),
        sa.Column("ip_blocks", sa.JSON(), nullable=False),
        sa.Column("dns1", sa.String(length=64), nullable=True),
        sa.Column("dns2", sa.String(length=64), nullable=True),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("netmask", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "resource_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("vc_cluster_name", sa.String(length=200), nullable=False),
        sa.Column("vc_resource_pool_name", sa.String(length=200), nullable=True),
        sa.Column("cpu_limit", sa.Integer(), nullable=True),
        sa.Column("mem_limit_mb", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "datastores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("regex", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    # nullable: clusters made before this revision use the provider's own addresses and
    # no resource pool, which is what NULL means
    op.add_column("clusters", sa.Column("network_name", sa.String(length=80), nullable=True))
    op.add_column("clusters", sa.Column("resource_pool_name", sa.String(length=80),
                                        nullable=True))
    op.add_column("clusters", sa.Column("datastore_names", sa.JSON(), nullable=True))


def downgrade() -> None:
    # batch mode: SQLite drops columns by copying the table
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("datastore_names")
        batch.drop_column("resource_pool_name")
        batch.drop_column("network_name")
    op.drop_table("datastores")
    op.drop_table("resource_pools")
    op.drop_table("networks")
