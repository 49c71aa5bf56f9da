"""BDE's read beans (TaskRead, ClusterRead, NodeGroupRead, NodeRead, NetworkRead, …) from
store rows, with serengeti-ws's field names and value sets, so BDE's clients parse them.

Where ndovu knows more than BDE's bean holds (a pool's limits, a network's users) it
adds fields; TaskRead is kept to BDE's fields and enums exactly, since BDE's CLI polls it
into a strict Java enum.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ndovu import __version__, addresses, placement
from ndovu.api.deps import ApiContext
from ndovu.api.views import nodes_by_group
from ndovu.catalog import CatalogType
from ndovu.errors import NdovuError
from ndovu.spec.model import ClusterPlan
from ndovu.statuses import OperationType
from ndovu.store.models import Cluster, Datastore, Network, Node, Operation, ResourcePool


def task_read(op: Operation) -> dict[str, Any]:
    """BDE's TaskRead: ``progress`` is a fraction (0..1; BDE's CLI prints it times 100) and
    ``type`` BDE's TaskRead.Type: DELETE for a delete, INNER for everything else."""
    error = op.error_message
    return {
        "id": op.id,
        "status": op.status,
        "type": "DELETE" if op.type == OperationType.DELETE else "INNER",
        "progress": round((op.progress or 0) / 100, 2),
        "errorMessage": error,
        "progressMessage": op.progress_message,
        "target": op.target,
        "succeedNodes": [{"nodeName": n, "succeed": True, "errorMessage": None}
                         for n in op.succeed_nodes or []],
        "failNodes": [{"nodeName": n, "succeed": False, "errorMessage": error}
                      for n in op.fail_nodes or []],
    }


def _kind(ctx: ApiContext, cluster: Cluster) -> CatalogType | None:
    try:
        return ctx.catalog.get(cluster.type)
    except NdovuError:  # a custom spec, or a type the catalog no longer offers
        return None


def node_read(node: Node, roles: list[str], cpu: int, memory_mb: int) -> dict[str, Any]:
    return {
        "name": node.name,
        "moId": node.provider_id,
        "rack": None,
        # no DNS on loopback: a node is reached by its address
        "hostName": node.address,
        "ipConfigs": {"MGT_NETWORK": [{"ipAddress": node.address, "fqdn": node.address}]}
        if node.address else {},
        "status": node.status,
        "action": node.action,
        "roles": roles,
        "memory": memory_mb,
        "cpuNumber": cpu,
        "volumes": [],
        "errMessage": node.error_message,
    }


def cluster_read(ctx: ApiContext, s: Session, cluster: Cluster, *,
                 details: bool = True) -> dict[str, Any]:
    plan = ClusterPlan.from_dict(cluster.plan)
    kind = _kind(ctx, cluster)
    groups = []
    for g, nodes in nodes_by_group(cluster, plan):
        groups.append({
            "name": g.name,
            "roles": list(g.roles),
            "cpuNum": g.cpu,
            "memCapacityMB": g.memory_mb,
            "storage": {"type": g.storage_type, "sizeGB": g.storage_gb,
                        "dsNames": list(cluster.datastore_names or [])},
            "instanceNum": g.instance_num,
            "instances": [node_read(n, list(g.roles), g.cpu, g.memory_mb) for n in nodes]
            if details else None,
        })
    pools = []
    if cluster.resource_pool_name:
        pool = s.scalars(select(ResourcePool)
                         .where(ResourcePool.name == cluster.resource_pool_name)).first()
        pools.append({"rpName": cluster.resource_pool_name,
                      "vcCluster": pool.vc_cluster_name if pool else None,
                      "rpVsphereName": pool.vc_resource_pool_name if pool else None})
    distro = (kind.distro or {}) if kind else {}
    return {
        "name": cluster.name,
        "distro": distro.get("name"),
        "distroVendor": kind.vendor if kind else None,
        "appManager": kind.app_manager if kind else "Default",
        "instanceNum": sum(g.instance_num for g in plan.groups),
        "status": cluster.status,
        "topologyPolicy": "NONE",
        "nodeGroups": groups,
        "resourcePools": pools,
        "version": __version__,
    }


def cluster_spec(ctx: ApiContext, cluster: Cluster) -> dict[str, Any]:
    """The cluster as a ClusterCreate: posted back (with another name) it makes the same
    cluster. The cluster password is never part of it."""
    plan = ClusterPlan.from_dict(cluster.plan)
    kind = _kind(ctx, cluster)
    distro = (kind.distro or {}) if kind else {}
    return {
        "name": cluster.name,
        "type": cluster.type,
        "appManager": kind.app_manager if kind else "Default",
        "distro": distro.get("name"),
        "distroVendor": kind.vendor if kind else None,
        "distroVersion": distro.get("version"),
        "rpNames": [cluster.resource_pool_name] if cluster.resource_pool_name else [],
        "dsNames": list(cluster.datastore_names or []),
        "networkConfig": {"MGT_NETWORK": [cluster.network_name]}
        if cluster.network_name else {},
        "nodeGroups": [{
            "name": g.name,
            "roles": list(g.roles),
            "instanceNum": g.instance_num,
            "instanceType": g.instance_type,
            "cpuNum": g.cpu,
            "memCapacityMB": g.memory_mb,
            "storage": {"type": g.storage_type, "sizeGB": g.storage_gb},
            "haFlag": g.ha_flag,
            "configuration": g.configuration,
        } for g in plan.groups],
        "configuration": plan.configuration,
        "topologyPolicy": "NONE",
        # a cluster of a type the catalog does not offer was made from a full spec
        "specFile": kind is None,
        "validateConfig": True,
    }


def network_read(s: Session, net: Network) -> dict[str, Any]:
    blocks = [(b[0], b[1]) for b in net.ip_blocks or ()]
    held, pending = placement.network_usage(s, net) if blocks else ([], 0)
    used = [address for address, _ in held]
    clusters = sorted({node.cluster.name for _, node in held}
                      | set(_network_clusters(s, net.name)))
    return {
        "name": net.name,
        "portGroup": net.port_group,
        "isDhcp": net.is_dhcp,
        "dhcp": net.is_dhcp,  # BDE's NetworkRead spells it so (isDhcp() is its getter)
        "dns1": net.dns1,
        "dns2": net.dns2,
        "gateway": net.gateway,
        "netmask": net.netmask,
        "ipBlocks": [{"beginIp": b, "endIp": e} for b, e in blocks],
        "allIpBlocks": [{"beginIp": b, "endIp": e} for b, e in blocks],
        "freeIpBlocks": [{"beginIp": b, "endIp": e}
                         for b, e in addresses.free_blocks(blocks, used)],
        "assignedIpBlocks": [{"beginIp": b, "endIp": e}
                             for b, e in addresses.as_blocks(used)],
        "ipAllocEntries": [{"ipAddress": address, "clusterName": node.cluster.name,
                            "nodeGroupName": node.group_name, "nodeName": node.name}
                           for address, node in held],
        # ndovu: addresses not yet taken by clusters already placed here; null for DHCP
        "freeAddresses": None if net.is_dhcp or not blocks
        else addresses.size(blocks) - len(held) - pending,
        "clusters": clusters,
    }


def _network_clusters(s: Session, name: str) -> list[str]:
    return list(s.scalars(select(Cluster.name).where(Cluster.network_name == name)))


def resource_pool_read(s: Session, pool: ResourcePool) -> dict[str, Any]:
    cpu, memory, clusters = placement.pool_usage(s, pool.name)
    return {
        "rpName": pool.name,
        "vcCluster": pool.vc_cluster_name,
        "rpVsphereName": pool.vc_resource_pool_name,
        # ndovu's capacity: limits (null: unlimited) and what the pool's clusters use
        "cpuLimit": pool.cpu_limit,
        "memLimitMB": pool.mem_limit_mb,
        "cpuUsed": cpu,
        "memUsedMB": memory,
        "totalRAMInMB": pool.mem_limit_mb,
        "usedRAMInMB": memory,
        "clusters": clusters,
    }


def datastore_read(s: Session, ds: Datastore) -> dict[str, Any]:
    return {"name": ds.name, "type": ds.type, "spec": list(ds.spec or []),
            "regex": ds.regex, "clusters": placement.datastore_users(s, ds.name)}


def distro_read(distro: dict[str, Any]) -> dict[str, Any]:
    packages = [p for p in distro.get("packages") or [] if isinstance(p, dict)]
    roles = sorted({r for p in packages for r in p.get("roles") or [] if isinstance(r, str)})
    return {"name": distro["name"], "vendor": distro["vendor"],
            "version": str(distro.get("version", "")), "hveSupported": False,
            "roles": roles, "packages": packages}
