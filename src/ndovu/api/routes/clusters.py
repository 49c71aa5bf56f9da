"""/v1/clusters: create, list, show, delete. Mutations answer 202 with the operation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select

from ndovu.api import commands
from ndovu.api.deps import ApiContext, context
from ndovu.api.placement import Placement
from ndovu.api.schemas import ERROR_RESPONSES, ClusterList, ClusterRead, EventList, OperationRead
from ndovu.api.views import cluster_read, cluster_summary, event_read, operation_read
from ndovu.store.models import Cluster, Event, Operation

router = APIRouter(prefix="/v1/clusters", tags=["clusters"], responses=ERROR_RESPONSES)


class ClusterCreateBody(BaseModel):
    """A cluster of a catalog type; ``nodeGroups`` override the type's defaults by name."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(description="BDE rule: letters, digits and underscores")
    type: StrictStr = Field(description="a catalog type name, e.g. 'zookeeper'")
    nodeGroups: list[dict[str, Any]] = Field(
        default_factory=list,
        description="per-group overrides: name plus instanceNum, instanceType, cpuNum, "
                    "memCapacityMB, storage.sizeGB")
    configuration: dict[str, Any] = Field(default_factory=dict)
    network: StrictStr | None = Field(
        default=None, description="a network (see /v1/networks) whose ipBlocks give the "
                                  "nodes their addresses; default: the provider's")
    resourcePool: StrictStr | None = Field(
        default=None, description="a resource pool (see /v1/resourcepools) whose CPU and "
                                  "memory limits the nodes count against")
    datastores: list[StrictStr] = Field(default_factory=list,
                                        description="datastores (see /v1/datastores)")


def accepted(response: Response, op: Operation) -> dict[str, Any]:
    response.headers["Location"] = f"/v1/operations/{op.id}"
    return operation_read(op)


@router.post("", status_code=202, response_model=OperationRead)
def create_cluster(body: ClusterCreateBody, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return accepted(response, commands.create_cluster(
        ctx, name=body.name, cluster_type=body.type, node_groups=body.nodeGroups,
        configuration=body.configuration,
        where=Placement(network=body.network, resource_pool=body.resourcePool,
                        datastores=tuple(body.datastores))))


@router.get("", response_model=ClusterList)
def list_clusters(ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        clusters = s.scalars(select(Cluster).order_by(Cluster.name)).all()
        return {"clusters": [cluster_summary(c) for c in clusters]}


@router.get("/{name}", response_model=ClusterRead)
def show_cluster(name: str, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        cluster = commands.get_cluster(s, name)
        return cluster_read(cluster, commands.latest_operation(s, cluster.id))


@router.get("/{name}/events", response_model=EventList)
def cluster_events(name: str, ctx: Annotated[ApiContext, Depends(context)],
                   limit: int = 500) -> dict[str, Any]:
    with ctx.store.session() as s:
        commands.get_cluster(s, name)
        events = s.scalars(select(Event).where(Event.cluster == name)
                           .order_by(Event.id.desc()).limit(max(1, min(limit, 5000)))).all()
        return {"events": [event_read(e) for e in reversed(events)]}


@router.delete("/{name}", status_code=202, response_model=OperationRead)
def delete_cluster(name: str, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    return accepted(response, commands.delete_cluster(ctx, name))
