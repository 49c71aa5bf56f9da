"""Read models: store rows to JSON with BDE's field names (TaskRead, ClusterRead, NodeRead)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ndovu.spec.model import ClusterPlan
from ndovu.store.models import Cluster, Event, Node, Operation


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


def cluster_read(cluster: Cluster, latest: Operation | None) -> dict[str, Any]:
    plan = ClusterPlan.from_dict(cluster.plan)
    by_group: dict[str, list[Node]] = {}
    for node in cluster.nodes:
        by_group.setdefault(node.group_name, []).append(node)
    groups = []
    for g in plan.groups:
        nodes = sorted(by_group.get(g.name, []), key=lambda n: n.index)
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
