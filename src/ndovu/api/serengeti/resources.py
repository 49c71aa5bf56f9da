"""/serengeti/api networks, resource pools, datastores and distros.

The rules (a network is an address pool, a resource pool a capacity limit) live in
``ndovu.api.placement``; these routes translate BDE's beans and render BDE's reads. As in
BDE, adding or deleting one of these answers 200, not 202: nothing runs in the background.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from ndovu.api import placement
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES
from ndovu.api.serengeti import views
from ndovu.api.serengeti.beans import DatastoreAdd, NetworkAdd, NetworkUpdate, ResourcePoolAdd
from ndovu.errors import NotFoundError
from ndovu.store.models import Datastore, Network, ResourcePool

router = APIRouter(prefix="/serengeti/api", tags=["serengeti"], responses=ERROR_RESPONSES)

Ctx = Annotated[ApiContext, Depends(context)]


# -- networks ------------------------------------------------------------------------


@router.get("/networks")
def list_networks(ctx: Ctx, details: bool = False) -> list[dict[str, Any]]:
    """Every network, the built-in ``defaultNetwork`` (the provider's own addresses) first."""
    with ctx.store.session() as s:
        rows = [placement.default_network(ctx.provider),
                *s.scalars(select(Network).order_by(Network.name))]
        return [views.network_read(s, n) for n in rows]


@router.post("/networks")
def add_network(body: NetworkAdd, ctx: Ctx) -> dict[str, Any]:
    """NetworkAdd. A static network's ipBlocks are the addresses its clusters' nodes get;
    they must lie inside the provider's address space (127.0.0.0/8 on the local one)."""
    with ctx.store.session() as s:
        row = placement.add_network(
            s, name=body.name, port_group=body.portGroup, is_dhcp=body.isDhcp,
            ip_blocks=[(b.beginIp, b.endIp) for b in body.ipBlocks or []], dns1=body.dns1,
            dns2=body.dns2, gateway=body.gateway, netmask=body.netmask,
            dns_type=body.dnsType, address_space=ctx.address_space, provider=ctx.provider)
        return views.network_read(s, row)


@router.get("/network/{name}")
def show_network(name: str, ctx: Ctx, details: bool = False) -> dict[str, Any]:
    with ctx.store.session() as s:
        return views.network_read(s, placement.get_network(s, name, ctx.provider))


@router.put("/network/{name}")
def update_network(name: str, body: NetworkUpdate, ctx: Ctx) -> dict[str, Any]:
    """Add ipBlocks, change dns1 / dns2 (BDE's ``network modify``)."""
    with ctx.store.session() as s:
        placement.lock(s, name, None)  # blocks added while a create counts free addresses
        row = placement.update_network(
            s, name,
            ip_blocks=None if body.ipBlocks is None
            else [(b.beginIp, b.endIp) for b in body.ipBlocks],
            dns1=body.dns1, dns2=body.dns2,
            fixed={"name": body.name, "portGroup": body.portGroup, "isDhcp": body.isDhcp,
                   "gateway": body.gateway, "netmask": body.netmask},
            address_space=ctx.address_space, provider=ctx.provider)
        return views.network_read(s, row)


@router.delete("/network/{name}")
def delete_network(name: str, ctx: Ctx) -> dict[str, Any]:
    """Refused (409) while a cluster uses the network."""
    with ctx.store.session() as s:
        placement.lock(s, name, None)
        placement.delete_network(s, name, ctx.provider)
    return {"name": name, "deleted": True}


# -- resource pools ------------------------------------------------------------------


@router.get("/resourcepools")
def list_resource_pools(ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.store.session() as s:
        return [views.resource_pool_read(s, p)
                for p in s.scalars(select(ResourcePool).order_by(ResourcePool.name))]


@router.post("/resourcepools")
def add_resource_pool(body: ResourcePoolAdd, ctx: Ctx) -> dict[str, Any]:
    """ResourcePoolAdd plus ndovu's ``cpuLimit`` and ``memLimitMB``: the CPUs and MB of
    memory the nodes of all clusters in the pool may have together (absent: unlimited)."""
    with ctx.store.session() as s:
        row = placement.add_resource_pool(
            s, name=body.name, vc_cluster=body.vcClusterName,
            vc_resource_pool=body.resourcePoolName, cpu_limit=body.cpuLimit,
            mem_limit_mb=body.memLimitMB)
        return views.resource_pool_read(s, row)


@router.get("/resourcepool/{name}")
def show_resource_pool(name: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.store.session() as s:
        return views.resource_pool_read(s, placement.get_resource_pool(s, name))


@router.delete("/resourcepool/{name}")
def delete_resource_pool(name: str, ctx: Ctx) -> dict[str, Any]:
    """Refused (409) while a cluster is placed in the pool."""
    with ctx.store.session() as s:
        placement.lock(s, None, name)
        placement.delete_resource_pool(s, name)
    return {"name": name, "deleted": True}


# -- datastores ----------------------------------------------------------------------


@router.get("/datastores")
def list_datastores(ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.store.session() as s:
        return [views.datastore_read(s, d)
                for d in s.scalars(select(Datastore).order_by(Datastore.name))]


@router.post("/datastores")
def add_datastore(body: DatastoreAdd, ctx: Ctx) -> dict[str, Any]:
    with ctx.store.session() as s:
        row = placement.add_datastore(s, name=body.name, spec=body.spec, type_=body.type,
                                      regex=body.regex)
        return views.datastore_read(s, row)


@router.get("/datastore/{name}")
def show_datastore(name: str, ctx: Ctx) -> dict[str, Any]:
    with ctx.store.session() as s:
        return views.datastore_read(s, placement.get_datastore(s, name))


@router.delete("/datastore/{name}")
def delete_datastore(name: str, ctx: Ctx) -> dict[str, Any]:
    """Refused (409) while a cluster names the datastore."""
    with ctx.store.session() as s:
        placement.delete_datastore(s, name)
    return {"name": name, "deleted": True}


# -- distros -------------------------------------------------------------------------


@router.get("/distros")
def list_distros(ctx: Ctx) -> list[dict[str, Any]]:
    """The catalog manifests' distros (DistroRead plus their packages)."""
    return [views.distro_read(d) for d in ctx.catalog.distros]


@router.get("/distro/{name}")
def show_distro(name: str, ctx: Ctx) -> dict[str, Any]:
    found = next((d for d in ctx.catalog.distros if d["name"].lower() == name.lower()), None)
    if found is None:
        raise NotFoundError(f"no distro named {name!r}; distros: "
                            f"{', '.join(d['name'] for d in ctx.catalog.distros)}",
                            field="name")
    return views.distro_read(found)
