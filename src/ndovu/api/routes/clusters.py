"""/v1/clusters: create, list, show, delete. Mutations answer 202 with the operation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictStr
from pydantic_core import to_json
from sqlalchemy import select

from ndovu.api import commands, reads
from ndovu.api.deps import ApiContext, app_context, context
from ndovu.api.schemas import ERROR_RESPONSES, ClusterList, ClusterRead, EventList, OperationRead
from ndovu.api.views import cluster_summary, event_read, operation_read
from ndovu.errors import SpecError
from ndovu.placement import Placement
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
    healing: dict[str, Any] | None = Field(
        default=None, description="over the type's healing policy: enabled, "
                                  "unhealthyAfter (seconds), maxUnhealthy (a count or "
                                  "'40%')")
    network: StrictStr | None = Field(
        default=None, description="a network (see /v1/networks) whose ipBlocks give the "
                                  "nodes their addresses; default: the provider's")
    resourcePool: StrictStr | None = Field(
        default=None, description="a resource pool (see /v1/resourcepools) whose CPU and "
                                  "memory limits the nodes count against")
    datastores: list[StrictStr] = Field(default_factory=list,
                                        description="datastores (see /v1/datastores)")
    password: SecretStr | None = Field(
        default=None, description="a password for the nodes (BDE's cluster password); "
                                  "refused (422) with the provider's reason when it cannot "
                                  "set one; never stored, logged or repeated")


def accepted(response: Response, op: Operation) -> dict[str, Any]:
    response.headers["Location"] = f"/v1/operations/{op.id}"
    return operation_read(op)


@router.post("", status_code=202, response_model=OperationRead)
def create_cluster(body: ClusterCreateBody, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    if body.password is not None and body.password.get_secret_value():
        # as /serengeti/api: the value itself is never repeated, logged or kept
        raise SpecError(f"password: {ctx.password_refusal}; leave 'password' out",
                        field="password")
    return accepted(response, commands.create_cluster(
        ctx, name=body.name, cluster_type=body.type, node_groups=body.nodeGroups,
        configuration=body.configuration, healing=body.healing,
        where=Placement(network=body.network, resource_pool=body.resourcePool,
                        datastores=tuple(body.datastores))))


@router.get("", response_model=ClusterList)
def list_clusters(ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        clusters = s.scalars(select(Cluster).order_by(Cluster.name)).all()
        return {"clusters": [cluster_summary(c) for c in clusters]}


# The hottest read (bench/api_load.py). Async like its authentication, so no hop to the
# thread pool; the context comes from the request, not as a dependency FastAPI would solve
# on every call; the view is built in ClusterRead's shape (tests/unit/test_api_cluster_read.py
# holds it to the model) and serialised as it is: FastAPI's validating it again would cost
# about a tenth of the request.
@router.get("/{name}", response_model=ClusterRead)
async def show_cluster(name: str, request: Request) -> Response:
    view = await app_context(request).read(reads.cluster, name)
    return Response(to_json(view), media_type="application/json")


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
                   ctx: Annotated[ApiContext, Depends(context)],
                   force: Annotated[bool, Query(
                       description="Give up on nodes the provider keeps refusing to delete "
                                   "(after its retries): the cluster goes, and the "
                                   "operation says what may be left behind")] = False,
                   ) -> dict[str, Any]:
    return accepted(response, commands.delete_cluster(ctx, name, force=force))
