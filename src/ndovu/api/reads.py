"""GET /v1/clusters/{name}, the API's hottest read: two indexed SELECTs (the cluster with
its latest operation, then its nodes) of just the columns the view shows, in SQLAlchemy
Core on the connection it is given (see ``reading``).

The ORM would build objects in a session's identity map, load the nodes by a lazy load and
decode columns the view never shows (leases, node progress); for these few rows that is
most of the request's cost (bench/api_load.py measures it). The statements are built once;
nothing is cached between requests, so every answer is what the database holds then.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import aliased

from ndovu.api.commands import no_such_cluster
from ndovu.api.views import cluster_read
from ndovu.store.models import Cluster, Node, Operation

_OPERATION_COLUMNS = ("id", "type", "target", "status", "progress", "progress_message",
                      "error_message", "succeed_nodes", "fail_nodes", "requested_by",
                      "created_at", "started_at", "finished_at")
_PREFIX = "op_"  # the operation's columns in the joined row
_latest = aliased(Operation, name="latest")
_CLUSTER = (
    select(Cluster.id, Cluster.name, Cluster.type, Cluster.status, Cluster.plan,
           Cluster.endpoints, Cluster.error_message, Cluster.network_name,
           Cluster.resource_pool_name, Cluster.datastore_names, Cluster.created_at,
           *(getattr(_latest, c).label(_PREFIX + c) for c in _OPERATION_COLUMNS))
    .outerjoin(_latest, _latest.id == select(func.max(Operation.id))
               .where(Operation.cluster_id == Cluster.id).scalar_subquery())
    .where(Cluster.name == bindparam("name")))
# in group and index order, as the view lists them
_NODES = (select(Node.name, Node.group_name, Node.status, Node.action, Node.provider_id,
                 Node.address, Node.error_message)
          .where(Node.cluster_id == bindparam("cluster_id"))
          .order_by(Node.group_name, Node.index))


def cluster(conn: Connection, name: str) -> dict[str, Any]:
    """The cluster's ClusterRead view; NotFoundError when there is no such cluster."""
    row = conn.execute(_CLUSTER, {"name": name}).first()
    if row is None:
        raise no_such_cluster(name)
    nodes = conn.execute(_NODES, {"cluster_id": row.id}).all()
    columns = row._mapping
    latest = None if columns[_PREFIX + "id"] is None else SimpleNamespace(
        **{c: columns[_PREFIX + c] for c in _OPERATION_COLUMNS})
    return cluster_read(row, nodes, latest)
