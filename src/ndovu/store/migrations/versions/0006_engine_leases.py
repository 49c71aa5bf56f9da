"""engine leases on clusters, and which engine wrote each event

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Several engines may share one database: a cluster is worked on only by the holder of its
lease (``lease_holder`` until ``lease_expires``, seconds since the epoch). Events name the
engine that wrote them, so who did what after a takeover is on record.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(160), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.Double(), nullable=True))
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("engine", sa.String(160), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("engine")
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("lease_expires")
        batch.drop_column("lease_holder")
