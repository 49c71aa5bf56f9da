"""Read models: store rows to JSON with BDE's field names (TaskRead, ClusterRead, NodeRead),
and /v1's networks, resource pools and datastores with what uses them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from ndovu import addresses
from ndovu.api import placement
from ndovu.spec.model import ClusterPlan, GroupPlan
from ndovu.store.models import Cluster, Datastore, Event, Network, Node, Operation, ResourcePool


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def operation_read(op: Operation) -> dict[str, Any]:
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
        "createdAt": _iso(op.created_at),
        "startedAt": _iso(op.started_at),
        "finishedAt": _iso(op.finished_at),
        "links": {"self": f"/v1/operations/{op.id}", "cluster": f"/v1/clusters/{op.target}"},
    }


def event_read(ev: Event) -> dict[str, Any]:
    return {"id": ev.id, "at": _iso(ev.at), "operationId": ev.operation_id, "node": ev.node,
            "step": ev.step, "outcome": ev.outcome, "durationMs": ev.duration_ms,
            "message": ev.message}


def node_read(node: Node, roles: list[str]) -> dict[str, Any]:
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


def cluster_summary(cluster: Cluster) -> dict[str, Any]:
    plan = ClusterPlan.from_dict(cluster.plan)
    return {
        "name": cluster.name,
        "type": cluster.type,
        "status": cluster.status,
        "instanceNum": sum(g.instance_num for g in plan.groups),
        "endpoints": dict(cluster.endpoints or {}),
        "links": {"self": f"/v1/clusters/{cluster.name}"},
    }


def nodes_by_group(cluster: Cluster, plan: ClusterPlan) -> list[tuple[GroupPlan, list[Node]]]:
    """Each group of the plan with its nodes in index order (both API surfaces read this)."""
    by_group: dict[str, list[Node]] = {}
    for node in cluster.nodes:
        by_group.setdefault(node.group_name, []).append(node)
    return [(g, sorted(by_group.get(g.name, []), key=lambda n: n.index)) for g in plan.groups]


def cluster_read(cluster: Cluster, latest: Operation | None) -> dict[str, Any]:
    plan = ClusterPlan.from_dict(cluster.plan)
    groups = []
    for g, nodes in nodes_by_group(cluster, plan):
        groups.append({
            "name": g.name,
            "roles": list(g.roles),
            "instanceNum": g.instance_num,
            "instanceType": g.instance_type,
            "cpuNum": g.cpu,
            "memCapacityMB": g.memory_mb,
            "storage": {"type": g.storage_type, "sizeGB": g.storage_gb},
            "haFlag": g.ha_flag,
            "instances": [node_read(n, list(g.roles)) for n in nodes],
        })
    return {
        **cluster_summary(cluster),
        "errorMessage": cluster.error_message,
        "configuration": plan.configuration,
        "network": cluster.network_name,
        "resourcePool": cluster.resource_pool_name,
        "datastores": list(cluster.datastore_names or []),
        "nodeGroups": groups,
        "createdAt": _iso(cluster.created_at),
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
