"""/v1/clusters: create, list, show, delete. Mutations answer 202 with the operation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ndovu.api.deps import ApiContext, context
from ndovu.api.schemas import ERROR_RESPONSES, ClusterList, ClusterRead, EventList, OperationRead
from ndovu.api.views import cluster_read, cluster_summary, event_read, operation_read
from ndovu.errors import ConflictError, NotFoundError
from ndovu.spec import expand, validate_cluster_name
from ndovu.statuses import ClusterStatus, Desired, NodeStatus, OperationType, TaskStatus
from ndovu.store.models import Cluster, Event, Node, Operation

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


def _get_cluster(s: Any, name: str) -> Cluster:
    cluster = s.scalars(select(Cluster).where(Cluster.name == name)).first()
    if cluster is None:
        raise NotFoundError(f"no cluster named {name!r}", field="name",
                            hint="GET /v1/clusters lists the clusters that exist")
    return cluster


def _latest_operation(s: Any, cluster_id: int) -> Operation | None:
    return s.scalars(select(Operation).where(Operation.cluster_id == cluster_id)
                     .order_by(Operation.id.desc())).first()


def _accepted(response: Response, op: Operation) -> dict[str, Any]:
    response.headers["Location"] = f"/v1/operations/{op.id}"
    return operation_read(op)


@router.post("", status_code=202, response_model=OperationRead)
def create_cluster(body: ClusterCreateBody, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    validate_cluster_name(body.name)
    cluster_type = ctx.catalog.get(body.type)
    plan = expand(cluster_type.spec, cluster_name=body.name, cluster_type=cluster_type.name,
                  overrides=body.nodeGroups, configuration=body.configuration)
    ctx.validate_plan(plan)
    conflict = ConflictError(f"a cluster named {body.name!r} already exists", field="name",
                             hint="choose another name, or delete the existing cluster first")
    try:
        with ctx.store.session() as s:
            if s.scalars(select(Cluster.id).where(Cluster.name == body.name)).first():
                raise conflict
            cluster = Cluster(name=body.name, type=cluster_type.name, plan=plan.to_dict(),
                              status=ClusterStatus.PROVISIONING, desired=Desired.RUNNING,
                              endpoints={})
            s.add(cluster)
            s.flush()
            for node in plan.nodes():
                s.add(Node(cluster_id=cluster.id, name=node.name, group_name=node.group,
                           index=node.index, status=NodeStatus.NOT_EXIST, roles_started=[]))
            op = Operation(cluster_id=cluster.id, target=body.name, type=OperationType.CREATE,
                           status=TaskStatus.STARTING, progress=0, succeed_nodes=[],
                           fail_nodes=[], progress_message="waiting for the engine")
            s.add(op)
            s.flush()
    except IntegrityError as exc:  # lost a race with a concurrent create of the same name
        raise conflict from exc
    ctx.notify()
    return _accepted(response, op)


@router.get("", response_model=ClusterList)
def list_clusters(ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        clusters = s.scalars(select(Cluster).order_by(Cluster.name)).all()
        return {"clusters": [cluster_summary(c) for c in clusters]}


@router.get("/{name}", response_model=ClusterRead)
def show_cluster(name: str, ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        cluster = _get_cluster(s, name)
        return cluster_read(cluster, _latest_operation(s, cluster.id))


@router.get("/{name}/events", response_model=EventList)
def cluster_events(name: str, ctx: Annotated[ApiContext, Depends(context)],
                   limit: int = 500) -> dict[str, Any]:
    with ctx.store.session() as s:
        _get_cluster(s, name)
        events = s.scalars(select(Event).where(Event.cluster == name)
                           .order_by(Event.id.desc()).limit(max(1, min(limit, 5000)))).all()
        return {"events": [event_read(e) for e in reversed(events)]}


@router.delete("/{name}", status_code=202, response_model=OperationRead)
def delete_cluster(name: str, response: Response,
                   ctx: Annotated[ApiContext, Depends(context)]) -> dict[str, Any]:
    with ctx.store.session() as s:
        cluster = _get_cluster(s, name)
        active = s.scalars(select(Operation).where(
            Operation.cluster_id == cluster.id,
            Operation.status.in_([TaskStatus.STARTING, TaskStatus.STARTED]))).all()
        for op in active:
            if op.type == OperationType.DELETE:
                raise ConflictError(f"cluster {name!r} is already being deleted by operation "
                                    f"{op.id}", hint=f"follow GET /v1/operations/{op.id}")
        for op in active:
            # delete wins over a create still in progress; the engine stops working on it
            op.status = TaskStatus.ABANDONED
            op.progress_message = "abandoned: the cluster is being deleted"
        cluster.desired = Desired.ABSENT
        cluster.status = ClusterStatus.DELETING
        op = Operation(cluster_id=cluster.id, target=name, type=OperationType.DELETE,
                       status=TaskStatus.STARTING, progress=0, succeed_nodes=[], fail_nodes=[],
                       progress_message="waiting for the engine")
        s.add(op)
        s.flush()
    ctx.notify()
    return _accepted(response, op)
