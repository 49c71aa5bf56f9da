"""Reading ndovu's operations and clusters: is the awaited change done, still running, or
failed, and in ndovu's own words why. No Heat here: ``resources`` turns a ``Failure``
into the resource's failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import client

MAX_REASON = 2000


class Failure(Exception):
    """The operation failed or the cluster did not end as it should (``status``: the
    cluster's status, for Heat's "Went to status … due to …")."""

    def __init__(self, message: str, status: str = "ERROR"):
        super().__init__(message)
        self.message, self.status = message, status


def finished(op: Mapping[str, Any]) -> bool:
    return op.get("status") in client.TERMINAL


def progress(op: Mapping[str, Any]) -> str:
    text = f"operation {op.get('id')} ({op.get('type')}) {op.get('status')} at " \
           f"{op.get('progress', 0)}%"
    if op.get("progressMessage"):
        text += f": {op['progressMessage']}"
    return text


def check_finished(doing: str, op: Mapping[str, Any], cluster: Mapping[str, Any] | None,
                   want: str) -> None:
    """Raise ``Failure`` unless the finished ``op`` left ``cluster`` in status ``want``
    (``doing``: what the operation was to do, e.g. "create cluster 'zk'")."""
    status = (cluster or {}).get("status") or "NOT_FOUND"
    if op.get("status") == "COMPLETED" and status == want:
        return
    if op.get("status") == "COMPLETED":
        raise Failure(f"ndovu finished its operation to {doing}, but the cluster is "
                      f"{status}, not {want}{_node_errors(cluster, '')}", status)
    if op.get("status") == "ABANDONED":
        raise Failure(f"ndovu abandoned its operation to {doing}: "
                      f"{op.get('progressMessage') or 'another operation superseded it'}",
                      status)
    message = op.get("errorMessage") or "no reason given"
    raise Failure(_cut(f"ndovu could not {doing}: {message}"
                       f"{_node_errors(cluster, message)}"), status)


def unhealthy(name: str, cluster: Mapping[str, Any] | None) -> str | None:
    """Why the cluster is not healthy (not RUNNING, or a node not SERVICE_READY)."""
    if cluster is None:
        return f"cluster {name!r} does not exist on the ndovu server"
    if cluster.get("status") != "RUNNING":
        return f"cluster {name!r} is {cluster.get('status')}, not RUNNING" + \
            _node_errors(cluster, "")
    bad = [f"{n['name']} is {n.get('status')}" + (f" ({n['errMessage']})"
                                                  if n.get("errMessage") else "")
           for n in nodes_of(cluster) if n.get("status") != "SERVICE_READY"]
    if bad:
        return _cut(f"cluster {name!r} is RUNNING but not every node is SERVICE_READY: "
                    + "; ".join(bad))
    return None


def nodes_of(cluster: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(n, group=g["name"]) for g in (cluster or {}).get("nodeGroups", [])
            for n in g.get("instances", [])]


def _node_errors(cluster: Mapping[str, Any] | None, already: str) -> str:
    """The nodes' own error texts not already in ``already``."""
    extra = [f"{n['name']}: {n['errMessage']}" for n in nodes_of(cluster)
             if n.get("errMessage") and n["errMessage"] not in already]
    return f" (nodes: {'; '.join(extra)})" if extra else ""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"
