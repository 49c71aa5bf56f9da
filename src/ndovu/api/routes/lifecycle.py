"""/v1/clusters/{name}: stop, start, resize and scale a cluster that exists.

The checks and the recorded change live in ``ndovu.api.commands`` (shared with
/serengeti/api); these routes translate the request and answer 202 with the operation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ndovu.api import commands
from ndovu.api.deps import ApiContext, context
from ndovu.api.routes.clusters import accepted
from ndovu.api.schemas import ERROR_RESPONSES, OperationRead

router = APIRouter(prefix="/v1/clusters", tags=["clusters"], responses=ERROR_RESPONSES)


class InstanceNumBody(BaseModel):
    """The node group's new number of nodes (BDE: PUT .../nodegroup/{g}/instancenum)."""

    model_config = ConfigDict(extra="forbid")

    instanceNum: StrictInt = Field(description="within the cluster type's range for the group")


class ScaleBody(BaseModel):
    """New CPU and/or memory for every node of the group (BDE's ResourceScale)."""

    model_config = ConfigDict(extra="forbid")

    cpuNum: StrictInt | None = Field(default=None, ge=1, description="CPUs per node")
    memCapacityMB: StrictInt | None = Field(default=None, ge=1, description="MB per node")


@router.post("/{name}/stop", status_code=202, response_model=OperationRead)
def stop_cluster(name: str, response: Response,
                 ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Stop every role (reverse bootstrap order), then power every node off; data stays."""
    return accepted(response, commands.stop_cluster(ctx, name))


@router.post("/{name}/start", status_code=202, response_model=OperationRead)
def start_cluster(name: str, response: Response,
                  ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Power the nodes on and start the roles stage by stage until healthy."""
    return accepted(response, commands.start_cluster(ctx, name))


@router.put("/{name}/nodegroups/{group}/instancenum", status_code=202,
            response_model=OperationRead)
def resize_group(name: str, group: str, body: InstanceNumBody, response: Response,
                 ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Grow or shrink a node group: new nodes join the running cluster; removed ones
    (the highest indexes) are decommissioned, stopped and deleted."""
    return accepted(response, commands.resize_group(ctx, name, group, body.instanceNum))


@router.put("/{name}/nodegroups/{group}/scale", status_code=202,
            response_model=OperationRead)
def scale_group(name: str, group: str, body: ScaleBody, response: Response,
                ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Give every node of a group new CPU and/or memory, one node at a time."""
    return accepted(response, commands.scale_group(ctx, name, group, body.cpuNum,
                                                   body.memCapacityMB))
