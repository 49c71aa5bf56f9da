"""What one pass reads from the store, in one short transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from ndovu.engine import journal
from ndovu.spec.model import ClusterPlan
from ndovu.statuses import TaskStatus
from ndovu.store.db import Store
from ndovu.store.models import Cluster, Network, as_utc


@dataclass
class Snapshot:
    cluster_id: int
    name: str
    desired: str
    plan: ClusterPlan
    op_id: int
    op_started: datetime
    # the active operation's OperationType (CREATE, START, STOP, RESIZE, SCALE, DELETE)
    op_type: str = ""
    # a forced delete: nodes the provider keeps refusing to delete are given up on
    force: bool = False
    # node name -> roles already started on it (persisted bootstrap progress)
    roles_started: dict[str, list[str]] = field(default_factory=dict)
    # node name -> roles ever started on it, across stops (who founded what, who must join)
    roles_ever_started: dict[str, list[str]] = field(default_factory=dict)
    # node name -> its group, for every node row (also those a resize no longer wants)
    node_groups: dict[str, str] = field(default_factory=dict)
    # the cluster's network's ipBlocks, where new nodes get their addresses; empty: the
    # provider's own (no network, or a DHCP one). Read on every pass, so blocks a PUT
    # added are used at once
    address_pool: tuple[tuple[str, str], ...] = ()

    def elapsed_s(self, since: datetime | None = None) -> float:
        """Seconds since ``since`` (a phase's start), or since the operation started."""
        return (datetime.now(UTC) - as_utc(since or self.op_started)).total_seconds()


def load_snapshot(store: Store, cluster_id: int) -> Snapshot | None:
    """The cluster and its active operation, or None when there is nothing to do.

    Marks a STARTING operation STARTED: from here on an engine is working on it."""
    with store.session() as s:
        cluster = s.get(Cluster, cluster_id)
        if cluster is None:
            return None
        op = journal.active_operation(s, cluster_id)
        if op is None:
            return None
        if op.status == TaskStatus.STARTING:
            op.status = TaskStatus.STARTED
            op.started_at = datetime.now(UTC)
            journal.event(s, op, cluster.name, f"{op.type.lower()} started", "ok")
        network = None
        if cluster.network_name:
            network = s.scalars(select(Network).where(Network.name == cluster.network_name)).first()
        return Snapshot(
            cluster_id=cluster.id, name=cluster.name, desired=cluster.desired,
            plan=ClusterPlan.from_dict(cluster.plan), op_id=op.id,
            op_started=as_utc(op.started_at or op.created_at), op_type=op.type,
            force=bool(op.force),
            roles_started={n.name: list(n.roles_started or []) for n in cluster.nodes},
            roles_ever_started={n.name: list(n.roles_ever_started or [])
                                for n in cluster.nodes},
            node_groups={n.name: n.group_name for n in cluster.nodes},
            address_pool=() if network is None or network.is_dhcp
            else tuple((b[0], b[1]) for b in network.ip_blocks or ()),
        )
