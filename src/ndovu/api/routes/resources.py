"""/v1/networks, /v1/resourcepools, /v1/datastores: where clusters are placed.

The rules and their locking are ``ndovu.api.resources``' (shared with /serengeti/api);
these routes translate ndovu's own bodies and render ndovu's reads. Nothing runs in the
background: a create answers 201 with the resource, a delete 204.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ndovu.api import resources, views
from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import (
    ERROR_RESPONSES,
    DatastoreList,
    DatastoreRead,
    NetworkList,
    NetworkRead,
    ResourcePoolList,
    ResourcePoolRead,
)
from ndovu.store.models import INT_MAX

router = APIRouter(prefix="/v1", responses=ERROR_RESPONSES)

Ctx = Annotated[ApiContext, Depends(context)]

NETWORKS = "/v1/networks"
POOLS = "/v1/resourcepools"
DATASTORES = "/v1/datastores"


class _Body(BaseModel):
    # a misspelt field is refused, never silently dropped
    model_config = ConfigDict(extra="forbid")


class IpBlockBody(_Body):
    beginIp: StrictStr
    endIp: StrictStr = Field(description="included")


class NetworkCreateBody(_Body):
    """A static network (``ipBlocks``) or a DHCP one (``isDhcp``: the provider's own
    addresses)."""

    name: StrictStr = Field(description="letters, digits, '_', '-', single spaces; at most 80")
    ipBlocks: list[IpBlockBody] = Field(
        default_factory=list, description="the addresses its clusters' nodes get; inside the "
                                          "provider's address space (local: 127.0.0.0/8)")
    isDhcp: StrictBool = False
    dns1: StrictStr | None = None
    dns2: StrictStr | None = None
    gateway: StrictStr | None = None
    netmask: StrictStr | None = None
    portGroup: StrictStr | None = Field(default=None, description="default: the name")


class NetworkUpdateBody(_Body):
    """Add ipBlocks and/or change the DNS servers; nothing else of a network changes."""

    ipBlocks: list[IpBlockBody] | None = Field(default=None,
                                           description="blocks added to the network's")
    dns1: StrictStr | None = None
    dns2: StrictStr | None = None


class ResourcePoolCreateBody(_Body):
    name: StrictStr
    cpuLimit: StrictInt | None = Field(default=None, ge=1, le=INT_MAX,
                                       description="CPUs of all its nodes; null: unlimited")
    memLimitMB: StrictInt | None = Field(default=None, ge=1, le=INT_MAX,
                                         description="MB of all its nodes; null: unlimited")


class DatastoreCreateBody(_Body):
    name: StrictStr
    spec: list[StrictStr] = Field(default_factory=list,
                                  description="datastore names, or patterns with regex")
    type: StrictStr = Field(default="SHARED", description="SHARED or LOCAL")
    regex: StrictBool = False


def _blocks(blocks: list[IpBlockBody] | None) -> list[tuple[str, str]] | None:
    return None if blocks is None else [(b.beginIp, b.endIp) for b in blocks]


def _created(response: Response, collection: str, body: dict[str, Any]) -> dict[str, Any]:
    response.headers["Location"] = f"{collection}/{quote(body['name'])}"
    return body


# -- networks ------------------------------------------------------------------------


@router.get("/networks", response_model=NetworkList, tags=["networks"])
def list_networks(ctx: Ctx) -> dict[str, Any]:
    """Every network, the built-in ``defaultNetwork`` (the provider's own addresses) first."""
    return {"networks": resources.list_networks(ctx, views.network_read)}


@router.post("/networks", status_code=201, response_model=NetworkRead, tags=["networks"])
def create_network(body: NetworkCreateBody, response: Response, ctx: Ctx) -> dict[str, Any]:
    """Blocks outside the provider's address space, or overlapping another network's, are
    refused (422 / 409)."""
    return _created(response, NETWORKS, resources.add_network(
        ctx, views.network_read, name=body.name, port_group=body.portGroup or body.name,
        is_dhcp=body.isDhcp, ip_blocks=_blocks(body.ipBlocks), dns1=body.dns1,
        dns2=body.dns2, gateway=body.gateway, netmask=body.netmask))


@router.get("/networks/{name}", response_model=NetworkRead, tags=["networks"])
def show_network(name: str, ctx: Ctx) -> dict[str, Any]:
    return resources.get_network(ctx, name, views.network_read, listed_at=NETWORKS)


@router.put("/networks/{name}", response_model=NetworkRead, tags=["networks"])
def update_network(name: str, body: NetworkUpdateBody, ctx: Ctx) -> dict[str, Any]:
    """Add ipBlocks (e.g. for a resize-out on a full network), change dns1 / dns2."""
    return resources.update_network(ctx, name, views.network_read,
                                    ip_blocks=_blocks(body.ipBlocks), dns1=body.dns1,
                                    dns2=body.dns2, listed_at=NETWORKS)


@router.delete("/networks/{name}", status_code=204, tags=["networks"])
def delete_network(name: str, ctx: Ctx) -> Response:
    """Refused (409) while a cluster uses the network."""
    resources.delete_network(ctx, name, listed_at=NETWORKS)
    return Response(status_code=204)


# -- resource pools ------------------------------------------------------------------


@router.get("/resourcepools", response_model=ResourcePoolList, tags=["resource pools"])
def list_resource_pools(ctx: Ctx) -> dict[str, Any]:
    return {"resourcePools": resources.list_resource_pools(ctx, views.resource_pool_read)}


@router.post("/resourcepools", status_code=201, response_model=ResourcePoolRead,
             tags=["resource pools"])
def create_resource_pool(body: ResourcePoolCreateBody, response: Response,
                         ctx: Ctx) -> dict[str, Any]:
    """A create, resize-out or scale that would take the pool's clusters past a limit is
    refused up front."""
    # vSphere's cluster name means nothing here: the pool is on this server's provider
    return _created(response, POOLS, resources.add_resource_pool(
        ctx, views.resource_pool_read, name=body.name, vc_cluster=ctx.provider,
        vc_resource_pool=None, cpu_limit=body.cpuLimit, mem_limit_mb=body.memLimitMB))


@router.get("/resourcepools/{name}", response_model=ResourcePoolRead, tags=["resource pools"])
def show_resource_pool(name: str, ctx: Ctx) -> dict[str, Any]:
    return resources.get_resource_pool(ctx, name, views.resource_pool_read, listed_at=POOLS)


@router.delete("/resourcepools/{name}", status_code=204, tags=["resource pools"])
def delete_resource_pool(name: str, ctx: Ctx) -> Response:
    """Refused (409) while a cluster is placed in the pool."""
    resources.delete_resource_pool(ctx, name, listed_at=POOLS)
    return Response(status_code=204)


# -- datastores ----------------------------------------------------------------------


@router.get("/datastores", response_model=DatastoreList, tags=["datastores"])
def list_datastores(ctx: Ctx) -> dict[str, Any]:
    return {"datastores": resources.list_datastores(ctx, views.datastore_read)}


@router.post("/datastores", status_code=201, response_model=DatastoreRead, tags=["datastores"])
def create_datastore(body: DatastoreCreateBody, response: Response, ctx: Ctx) -> dict[str, Any]:
    return _created(response, DATASTORES, resources.add_datastore(
        ctx, views.datastore_read, name=body.name, spec=body.spec, type_=body.type,
        regex=body.regex))


@router.get("/datastores/{name}", response_model=DatastoreRead, tags=["datastores"])
def show_datastore(name: str, ctx: Ctx) -> dict[str, Any]:
    return resources.get_datastore(ctx, name, views.datastore_read, listed_at=DATASTORES)


@router.delete("/datastores/{name}", status_code=204, tags=["datastores"])
def delete_datastore(name: str, ctx: Ctx) -> Response:
    """Refused (409) while a cluster names the datastore."""
    resources.delete_datastore(ctx, name, listed_at=DATASTORES)
    return Response(status_code=204)
