"""desired power state: a cluster wants to be "running", "stopped" or "absent"

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Data only: "present" (the only live value before stop/start existed) becomes "running".
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

clusters = sa.table("clusters", sa.column("desired", sa.String(16)))


def upgrade() -> None:
    op.execute(clusters.update().where(clusters.c.desired == "present")
               .values(desired="running"))


def downgrade() -> None:
    # the old schema knew no "stopped": a stopped cluster comes back as wanted present,
    # which the old engine reads as "start it" (the closest it can express)
    op.execute(clusters.update().where(clusters.c.desired.in_(["running", "stopped"]))
               .values(desired="present"))
