"""/serengeti/api networks, resource pools, datastores and distros.

The rules (a network is an address pool, a resource pool a capacity limit) live in
``ndovu.placement``, the calls /v1 shares in ``ndovu.api.resources``; these routes
translate BDE's beans and render BDE's reads. As in BDE, adding or deleting one of these
answers 200, not 202: nothing runs in the background.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ndovu.api import resources
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES
from ndovu.api.serengeti import views
from ndovu.api.serengeti.beans import DatastoreAdd, NetworkAdd, NetworkUpdate, ResourcePoolAdd
from ndovu.api.serengeti.models import (
    BdeDatastoreRead,
    BdeDeleted,
    BdeDistroRead,
    BdeNetworkRead,
    BdeResourcePoolRead,
)
from ndovu.errors import NotFoundError

router = APIRouter(prefix="/serengeti/api", tags=["serengeti"], responses=ERROR_RESPONSES)

Ctx = Annotated[ApiContext, Depends(context)]


# -- networks ------------------------------------------------------------------------


@router.get("/networks", response_model=list[BdeNetworkRead])
def list_networks(ctx: Ctx, details: bool = False) -> list[dict[str, Any]]:
    """Every network, the built-in ``defaultNetwork`` (the provider's own addresses) first."""
    return resources.list_networks(ctx, views.network_read)


@router.post("/networks", response_model=BdeNetworkRead)
def add_network(body: NetworkAdd, ctx: Ctx) -> dict[str, Any]:
    """NetworkAdd. A static network's ipBlocks are the addresses its clusters' nodes get;
    they must lie inside the provider's address space (127.0.0.0/8 on the local one)."""
    return resources.add_network(
        ctx, views.network_read, name=body.name, port_group=body.portGroup,
        is_dhcp=body.isDhcp, ip_blocks=[(b.beginIp, b.endIp) for b in body.ipBlocks or []],
        dns1=body.dns1, dns2=body.dns2, gateway=body.gateway, netmask=body.netmask,
        dns_type=body.dnsType)


@router.get("/network/{name}", response_model=BdeNetworkRead)
def show_network(name: str, ctx: Ctx, details: bool = False) -> dict[str, Any]:
    return resources.get_network(ctx, name, views.network_read)


@router.put("/network/{name}", response_model=BdeNetworkRead)
def update_network(name: str, body: NetworkUpdate, ctx: Ctx) -> dict[str, Any]:
    """Add ipBlocks, change dns1 / dns2 (BDE's ``network modify``)."""
    return resources.update_network(
        ctx, name, views.network_read,
        ip_blocks=None if body.ipBlocks is None
        else [(b.beginIp, b.endIp) for b in body.ipBlocks],
        dns1=body.dns1, dns2=body.dns2,
        fixed={"name": body.name, "portGroup": body.portGroup, "isDhcp": body.isDhcp,
               "gateway": body.gateway, "netmask": body.netmask})


@router.delete("/network/{name}", response_model=BdeDeleted)
def delete_network(name: str, ctx: Ctx) -> dict[str, Any]:
    """Refused (409) while a cluster uses the network."""
    resources.delete_network(ctx, name)
    return {"name": name, "deleted": True}


# -- resource pools ------------------------------------------------------------------


@router.get("/resourcepools", response_model=list[BdeResourcePoolRead])
def list_resource_pools(ctx: Ctx) -> list[dict[str, Any]]:
    return resources.list_resource_pools(ctx, views.resource_pool_read)


@router.post("/resourcepools", response_model=BdeResourcePoolRead)
def add_resource_pool(body: ResourcePoolAdd, ctx: Ctx) -> dict[str, Any]:
    """ResourcePoolAdd plus ndovu's ``cpuLimit`` and ``memLimitMB``: the CPUs and MB of
    memory the nodes of all clusters in the pool may have together (absent: unlimited)."""
    return resources.add_resource_pool(
        ctx, views.resource_pool_read, name=body.name, vc_cluster=body.vcClusterName,
        vc_resource_pool=body.resourcePoolName, cpu_limit=body.cpuLimit,
        mem_limit_mb=body.memLimitMB)


@router.get("/resourcepool/{name}", response_model=BdeResourcePoolRead)
def show_resource_pool(name: str, ctx: Ctx) -> dict[str, Any]:
    return resources.get_resource_pool(ctx, name, views.resource_pool_read)


@router.delete("/resourcepool/{name}", response_model=BdeDeleted)
def delete_resource_pool(name: str, ctx: Ctx) -> dict[str, Any]:
    """Refused (409) while a cluster is placed in the pool."""
    resources.delete_resource_pool(ctx, name)
    return {"name": name, "deleted": True}


# -- datastores ----------------------------------------------------------------------


@router.get("/datastores", response_model=list[BdeDatastoreRead])
def list_datastores(ctx: Ctx) -> list[dict[str, Any]]:
    return resources.list_datastores(ctx, views.datastore_read)


@router.post("/datastores", response_model=BdeDatastoreRead)
def add_datastore(body: DatastoreAdd, ctx: Ctx) -> dict[str, Any]:
    return resources.add_datastore(ctx, views.datastore_read, name=body.name, spec=body.spec,
                                   type_=body.type, regex=body.regex)


@router.get("/datastore/{name}", response_model=BdeDatastoreRead)
def show_datastore(name: str, ctx: Ctx) -> dict[str, Any]:
    return resources.get_datastore(ctx, name, views.datastore_read)


@router.delete("/datastore/{name}", response_model=BdeDeleted)
def delete_datastore(name: str, ctx: Ctx) -> dict[str, Any]:
    """Refused (409) while a cluster names the datastore."""
    resources.delete_datastore(ctx, name)
    return {"name": name, "deleted": True}


# -- distros -------------------------------------------------------------------------


@router.get("/distros", response_model=list[BdeDistroRead])
def list_distros(ctx: Ctx) -> list[dict[str, Any]]:
    """The catalog manifests' distros (DistroRead plus their packages)."""
    return [views.distro_read(d) for d in ctx.catalog.distros]


@router.get("/distro/{name}", response_model=BdeDistroRead)
def show_distro(name: str, ctx: Ctx) -> dict[str, Any]:
    found = next((d for d in ctx.catalog.distros if d["name"].lower() == name.lower()), None)
    if found is None:
        raise NotFoundError(f"no distro named {name!r}; distros: "
                            f"{', '.join(d['name'] for d in ctx.catalog.distros)}",
                            field="name")
    return views.distro_read(found)
