"""The resources' attributes, computed from a /v1 cluster read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import outcome

STATUS, NODES, ADDRESSES, GROUP_ADDRESSES, ENDPOINTS, FLOATING_IPS, NAME = (
    "status", "nodes", "addresses", "group_addresses", "endpoints", "floating_ips", "name")

DESCRIPTIONS = {
    NAME: "The cluster's name on the ndovu server.",
    STATUS: "The cluster's status (RUNNING, STOPPED, PROVISION_ERROR, ...).",
    NODES: "Every node: name, group, addresses (a list) and status.",
    ADDRESSES: "Every node's address, in node group and index order.",
    GROUP_ADDRESSES: "Per node group, its nodes' addresses in index order.",
    ENDPOINTS: "The cluster's service endpoints, e.g. 'zookeeper' (the connect string) or "
               "'spark' (the master URL).",
    FLOATING_IPS: "Floating IPs of the nodes: always an empty list, as ndovu's API does not "
                  "assign floating IPs (its local provider's nodes are loopback addresses "
                  "of the ndovu host).",
}


def _addresses(node: Mapping[str, Any]) -> list[str]:
    found = [c["ipAddress"] for configs in (node.get("ipConfigs") or {}).values()
             for c in configs if c.get("ipAddress")]
    if not found and node.get("ip"):
        found = [node["ip"]]
    return list(dict.fromkeys(found))


def value(name: str, cluster: Mapping[str, Any] | None) -> Any:
    """The attribute ``name`` of ``cluster``; None when the cluster does not exist."""
    if cluster is None:
        return None
    nodes = outcome.nodes_of(cluster)
    if name == NAME:
        return cluster.get("name")
    if name == STATUS:
        return cluster.get("status")
    if name == NODES:
        return [{"name": n["name"], "group": n["group"], "addresses": _addresses(n),
                 "status": n.get("status")} for n in nodes]
    if name == ADDRESSES:
        return [a for n in nodes for a in _addresses(n)]
    if name == GROUP_ADDRESSES:
        return {g["name"]: [a for n in g.get("instances", []) for a in _addresses(n)]
                for g in cluster.get("nodeGroups", [])}
    if name == ENDPOINTS:
        return dict(cluster.get("endpoints") or {})
    if name == FLOATING_IPS:
        return []
    return None
