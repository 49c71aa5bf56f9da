"""Read models: store rows to JSON with BDE's field names (TaskRead, ClusterRead, NodeRead),
and /v1's networks, resource pools and datastores with what uses them.

The operation, node and cluster views read only column attributes, so they take ORM
objects and Core rows alike (``reads`` serves the hottest one with Core rows)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from ndovu import addresses, placement
from ndovu.spec.model import ClusterPlan, GroupPlan
from ndovu.store.models import (
    Cluster,
    Datastore,
    Event,
    Network,
    Node,
    ResourcePool,
    as_utc,
)


def iso_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat()


def operation_read(op: Any) -> dict[str, Any]:
    return {
        "id": op.id,
        "type": op.type,
        "target": op.target,
        "status": op.status,
        "progress": op.progress,
        "progressMessage": op.progress_message,
        "errorMessage": op.error_message,
        "succeedNodes": list(op.succeed_nodes or []),
        "failNodes": list(op.fail_nodes or []),
        "requestedBy": op.requested_by,
        "createdAt": iso_time(op.created_at),
        "startedAt": iso_time(op.started_at),
        "finishedAt": iso_time(op.finished_at),
        "links": {"self": f"/v1/operations/{op.id}", "cluster": f"/v1/clusters/{op.target}"},
    }


def event_read(ev: Event) -> dict[str, Any]:
    return {"id": ev.id, "at": iso_time(ev.at), "operationId": ev.operation_id, "node": ev.node,
            "step": ev.step, "outcome": ev.outcome, "durationMs": ev.duration_ms,
            "message": ev.message, "engine": ev.engine}


def node_read(node: Any, roles: list[str]) -> dict[str, Any]:
    ip_configs = {"MGT_NETWORK": [{"ipAddress": node.address, "fqdn": None}]} \
        if node.address else {}
    return {
        "name": node.name,
        "moId": node.provider_id,
        "status": node.status,
        "action": node.action,
        "ip": node.address,
        "ipConfigs": ip_configs,
        "roles": roles,
        "errMessage": node.error_message,
    }


def cluster_summary(cluster: Any, plan: ClusterPlan | None = None) -> dict[str, Any]:
    plan = plan or ClusterPlan.from_dict(cluster.plan)
    return {
        "name": cluster.name,
        "type": cluster.type,
        "status": cluster.status,
        "instanceNum": sum(g.instance_num for g in plan.groups),
        "endpoints": dict(cluster.endpoints or {}),
        # every key of the Links model: /v1/clusters/{name} sends this without the model
        "links": {"self": f"/v1/clusters/{cluster.name}", "cluster": None},
    }


def group_nodes(plan: ClusterPlan, nodes: Iterable[Any]
                ) -> list[tuple[GroupPlan, list[Any]]]:
    """Each group of the plan with its nodes, kept in the order given (by index)."""
    by_group: dict[str, list[Any]] = {}
    for node in nodes:
        by_group.setdefault(node.group_name, []).append(node)
    return [(g, by_group.get(g.name, [])) for g in plan.groups]


def nodes_by_group(cluster: Cluster, plan: ClusterPlan) -> list[tuple[GroupPlan, list[Node]]]:
    """Each group of the plan with its nodes in index order (both API surfaces read this)."""
    return group_nodes(plan, sorted(cluster.nodes, key=lambda n: n.index))


def cluster_read(cluster: Any, nodes: Iterable[Any], latest: Any | None) -> dict[str, Any]:
    """``cluster``, ``nodes`` (in index order) and ``latest`` (its latest operation) may be
    ORM objects or Core rows (see ``reads``): only their column attributes are read."""
    plan = ClusterPlan.from_dict(cluster.plan)
    groups = []
    for g, members in group_nodes(plan, nodes):
        roles = list(g.roles)
        groups.append({
            "name": g.name,
            "roles": roles,
            "instanceNum": g.instance_num,
            "instanceType": g.instance_type,
            "cpuNum": g.cpu,
            "memCapacityMB": g.memory_mb,
            "storage": {"type": g.storage_type, "sizeGB": g.storage_gb},
            "haFlag": g.ha_flag,
            "instances": [node_read(n, roles) for n in members],
        })
    return {
        **cluster_summary(cluster, plan),
        "errorMessage": cluster.error_message,
        "configuration": plan.configuration,
        "healing": plan.healing.to_api(),
        "network": cluster.network_name,
        "resourcePool": cluster.resource_pool_name,
        "datastores": list(cluster.datastore_names or []),
        "nodeGroups": groups,
        "createdAt": iso_time(cluster.created_at),
        "operation": operation_read(latest) if latest else None,
    }


def _ip_blocks(blocks: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"beginIp": b, "endIp": e} for b, e in blocks]


def network_read(s: Session, net: Network) -> dict[str, Any]:
    blocks = [(b[0], b[1]) for b in net.ip_blocks or ()]
    # the built-in network and DHCP ones have no blocks: nothing of theirs to count
    held = placement.network_usage(s, net)[0] if blocks else []
    return {
        "name": net.name,
        "portGroup": net.port_group,
        "isDhcp": net.is_dhcp,
        "builtIn": net.name == placement.DEFAULT_NETWORK,
        "ipBlocks": _ip_blocks(blocks),
        "dns1": net.dns1,
        "dns2": net.dns2,
        "gateway": net.gateway,
        "netmask": net.netmask,
        "totalAddresses": None if net.is_dhcp else addresses.size(blocks),
        "freeAddresses": placement.free_addresses(s, net),
        "freeIpBlocks": _ip_blocks(addresses.free_blocks(blocks, [a for a, _ in held])),
        "assigned": [{"ipAddress": address, "cluster": node.cluster.name, "node": node.name}
                     for address, node in held],
        "clusters": sorted({node.cluster.name for _, node in held}
                           | set(placement.network_users(s, net.name))),
        "links": {"self": f"/v1/networks/{quote(net.name)}"},
    }


def resource_pool_read(s: Session, pool: ResourcePool) -> dict[str, Any]:
    cpu, memory, clusters = placement.pool_usage(s, pool.name)
    return {
        "name": pool.name,
        "cpuLimit": pool.cpu_limit,
        "memLimitMB": pool.mem_limit_mb,
        "cpuUsed": cpu,
        "memUsedMB": memory,
        "cpuFree": None if pool.cpu_limit is None else max(pool.cpu_limit - cpu, 0),
        "memFreeMB": None if pool.mem_limit_mb is None else max(pool.mem_limit_mb - memory, 0),
        "clusters": clusters,
        "links": {"self": f"/v1/resourcepools/{quote(pool.name)}"},
    }


def datastore_read(s: Session, ds: Datastore) -> dict[str, Any]:
    return {"name": ds.name, "type": ds.type, "spec": list(ds.spec or []), "regex": ds.regex,
            "clusters": placement.datastore_users(s, ds.name),
            "links": {"self": f"/v1/datastores/{quote(ds.name)}"}}
