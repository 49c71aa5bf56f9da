"""/v1/clusters/{name}: stop, start, resize and scale a cluster that exists.

Each call checks the request against the cluster (its plan, its status, its running
operation) and either refuses it with nothing changed, or records what the cluster should
now be (``Cluster.desired``, the plan) with an operation, answers 202 and wakes the engine.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ndovu.api.deps import ApiContext, context
from ndovu.api.routes.clusters import _accepted, _get_cluster
from ndovu.api.schemas import ERROR_RESPONSES, OperationRead
from ndovu.errors import ConflictError, NdovuError, NotFoundError, SpecError
from ndovu.spec.model import ClusterPlan, GroupPlan, IntRange
from ndovu.statuses import ClusterStatus, Desired, NodeStatus, OperationType, TaskStatus
from ndovu.store.models import Cluster, Node, Operation

router = APIRouter(prefix="/v1/clusters", tags=["clusters"], responses=ERROR_RESPONSES)


class NotSupportedError(ConflictError):
    """This server cannot do what was asked (its provider lacks the capability)."""

    code = "not_supported"


class InstanceNumBody(BaseModel):
    """The node group's new number of nodes (BDE: PUT .../nodegroup/{g}/instancenum)."""

    model_config = ConfigDict(extra="forbid")

    instanceNum: StrictInt = Field(description="within the cluster type's range for the group")


class ScaleBody(BaseModel):
    """New CPU and/or memory for every node of the group (BDE's ResourceScale)."""

    model_config = ConfigDict(extra="forbid")

    cpuNum: StrictInt | None = Field(default=None, ge=1, description="CPUs per node")
    memCapacityMB: StrictInt | None = Field(default=None, ge=1, description="MB per node")


def _lock_cluster(s: Session, name: str) -> Cluster:
    """The cluster, write-locked for this transaction: two calls on one cluster at once
    are decided one after the other, so only one of them starts an operation."""
    # a write first: SQLite takes its write lock here, PostgreSQL/MariaDB lock the row
    s.execute(update(Cluster).where(Cluster.name == name)
              .values(updated_at=datetime.now(UTC)))
    return _get_cluster(s, name)


def _refuse_if_busy(s: Session, cluster: Cluster, verb: str) -> None:
    op = s.scalars(select(Operation).where(
        Operation.cluster_id == cluster.id,
        Operation.status.in_([TaskStatus.STARTING, TaskStatus.STARTED]))
        .order_by(Operation.id.desc())).first()
    if op is not None:
        raise ConflictError(
            f"cluster {cluster.name!r} is busy with operation {op.id} ({op.type}, "
            f"{op.status}); it cannot {verb} until that operation has finished",
            hint=f"follow GET /v1/operations/{op.id}, then try again (a DELETE would "
                 "supersede it)")


def _refuse_unless_running(cluster: Cluster, verb: str) -> None:
    if cluster.status != ClusterStatus.RUNNING:
        raise ConflictError(
            f"cluster {cluster.name!r} is {cluster.status}; only a RUNNING cluster can "
            f"{verb}", hint=f"start it first: POST /v1/clusters/{cluster.name}/start")


def _group(plan: ClusterPlan, cluster: str, name: str) -> GroupPlan:
    group = plan.group(name)
    if group is None:
        raise NotFoundError(
            f"cluster {cluster!r} has no node group {name!r}; its node groups are "
            f"{', '.join(repr(g.name) for g in plan.groups)}", field="group")
    return group


def _begin(s: Session, cluster: Cluster, op_type: OperationType, status: ClusterStatus,
           desired: Desired) -> Operation:
    cluster.status = status
    cluster.desired = desired
    op = Operation(cluster_id=cluster.id, target=cluster.name, type=op_type,
                   status=TaskStatus.STARTING, progress=0, succeed_nodes=[], fail_nodes=[],
                   progress_message="waiting for the engine")
    s.add(op)
    s.flush()
    return op


@router.post("/{name}/stop", status_code=202, response_model=OperationRead)
def stop_cluster(name: str, response: Response,
                 ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Stop every role (reverse bootstrap order), then power every node off; data stays."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name)
        _refuse_if_busy(s, cluster, "stop")
        if cluster.status == ClusterStatus.STOPPED:
            raise ConflictError(f"cluster {name!r} is already STOPPED",
                                hint=f"start it with POST /v1/clusters/{name}/start")
        op = _begin(s, cluster, OperationType.STOP, ClusterStatus.STOPPING, Desired.STOPPED)
    ctx.notify()
    return _accepted(response, op)


@router.post("/{name}/start", status_code=202, response_model=OperationRead)
def start_cluster(name: str, response: Response,
                  ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Power the nodes on and start the roles stage by stage until healthy."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name)
        _refuse_if_busy(s, cluster, "start")
        if cluster.status == ClusterStatus.RUNNING:
            raise ConflictError(f"cluster {name!r} is already RUNNING",
                                hint=f"stop it first with POST /v1/clusters/{name}/stop")
        op = _begin(s, cluster, OperationType.START, ClusterStatus.STARTING, Desired.RUNNING)
    ctx.notify()
    return _accepted(response, op)


@router.put("/{name}/nodegroups/{group}/instancenum", status_code=202,
            response_model=OperationRead)
def resize_group(name: str, group: str, body: InstanceNumBody, response: Response,
                 ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Grow or shrink a node group: new nodes join the running cluster; removed ones
    (the highest indexes) are decommissioned, stopped and deleted."""
    count = body.instanceNum
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name)
        plan = ClusterPlan.from_dict(cluster.plan)
        current = _group(plan, name, group)
        allowed = IntRange(current.instance_num, current.instance_min, current.instance_max)
        if not allowed.allows(count):
            upper = "∞" if allowed.maximum is None else allowed.maximum
            raise SpecError(
                f"instanceNum: node group '{group}' of cluster '{name}' may have "
                f"{allowed.describe()} nodes (range [{allowed.minimum},{upper}] from the "
                f"'{cluster.type}' type's spec); {count} is outside it", field="instanceNum",
                hint=f"give a number from {allowed.minimum}"
                     + ("" if allowed.maximum is None else f" to {allowed.maximum}"))
        if count == current.instance_num:
            raise SpecError(f"instanceNum: node group '{group}' of cluster '{name}' already "
                            f"has {count} nodes; nothing to resize", field="instanceNum")
        _refuse_if_busy(s, cluster, "resize")
        _refuse_unless_running(cluster, "resize")
        resized = replace(plan, groups=tuple(
            replace(g, instance_num=count) if g.name == current.name else g
            for g in plan.groups))
        cluster.plan = resized.to_dict()
        existing = {n.name for n in cluster.nodes}
        for node in resized.nodes():
            if node.group == current.name and node.name not in existing:
                s.add(Node(cluster_id=cluster.id, name=node.name, group_name=node.group,
                           index=node.index, status=NodeStatus.NOT_EXIST, roles_started=[]))
        op = _begin(s, cluster, OperationType.RESIZE, ClusterStatus.UPDATING, Desired.RUNNING)
        op.progress_message = (f"waiting for the engine: {current.name} "
                               f"{current.instance_num} → {count} nodes")
    ctx.notify()
    return _accepted(response, op)


def _check_size(value: int | None, bounds: IntRange | None, field: str, group: str,
                unit: str) -> None:
    if value is not None and bounds is not None and not bounds.allows(value):
        raise SpecError(f"{field}: node group '{group}' may have {bounds.describe()} {unit} "
                        f"per node; {value} is outside that range", field=field)


@router.put("/{name}/nodegroups/{group}/scale", status_code=202,
            response_model=OperationRead)
def scale_group(name: str, group: str, body: ScaleBody, response: Response,
                ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    """Give every node of a group new CPU and/or memory, one node at a time."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name)
        plan = ClusterPlan.from_dict(cluster.plan)
        current = _group(plan, name, group)
        if ctx.scale_refusal:
            raise NotSupportedError(f"cannot scale node group '{group}' of cluster "
                                    f"'{name}': {ctx.scale_refusal}")
        if body.cpuNum is None and body.memCapacityMB is None:
            raise SpecError("give cpuNum, memCapacityMB or both", field="cpuNum")
        try:  # the operator's bounds, when the type is still in the catalog
            spec_group = ctx.catalog.get(cluster.type).spec.group(current.name)
        except NdovuError:
            spec_group = None
        if spec_group is not None:
            _check_size(body.cpuNum, spec_group.cpu_num, "cpuNum", group, "CPUs")
            _check_size(body.memCapacityMB, spec_group.mem_capacity_mb, "memCapacityMB",
                        group, "MB of memory")
        cpu = body.cpuNum or current.cpu
        memory = body.memCapacityMB or current.memory_mb
        if (cpu, memory) == (current.cpu, current.memory_mb):
            raise SpecError(f"node group '{group}' of cluster '{name}' already has {cpu} CPU "
                            f"and {memory} MB per node; nothing to scale", field="cpuNum")
        _refuse_if_busy(s, cluster, "scale")
        _refuse_unless_running(cluster, "scale")
        # sizes no longer follow an instance type once set by hand
        cluster.plan = replace(plan, groups=tuple(
            replace(g, cpu=cpu, memory_mb=memory, instance_type=None)
            if g.name == current.name else g for g in plan.groups)).to_dict()
        op = _begin(s, cluster, OperationType.SCALE, ClusterStatus.VMRECONFIGURING,
                    Desired.RUNNING)
        op.progress_message = (f"waiting for the engine: {current.name} to {cpu} CPU, "
                               f"{memory} MB per node")
    ctx.notify()
    return _accepted(response, op)
