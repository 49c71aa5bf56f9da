"""The cluster commands behind both REST surfaces (/v1 and BDE's /serengeti/api).

Each command takes the ApiContext and plain values, checks the request against the store
(the cluster's plan, status and running operation, its network and resource pool) and
either refuses it with nothing changed, or records what the cluster should now be
(``Cluster.desired``, the plan) with an operation, wakes the engine and returns the
operation. The routes only translate their request shapes and render the answer, so a
rule lives here once. A route passes its ``Surface`` so that error hints name calls of
the API the caller is using.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ndovu import placement
from ndovu.api.audit import caller
from ndovu.api.deps import ApiContext
from ndovu.errors import ConflictError, NdovuError, NotFoundError, SpecError
from ndovu.placement import Placement
from ndovu.spec import expand, validate_cluster_name
from ndovu.spec.model import ClusterPlan, ClusterSpec, GroupPlan, IntRange
from ndovu.statuses import ClusterStatus, Desired, NodeStatus, OperationType, TaskStatus
from ndovu.store.models import Cluster, Node, Operation


class NotSupportedError(ConflictError):
    """This server cannot do what was asked (its provider lacks the capability)."""

    code = "not_supported"


@dataclass(frozen=True)
class Surface:
    """The calls of one REST surface that error hints name (``{id}`` an operation's id,
    ``{name}`` a cluster's): a /serengeti/api caller has a session cookie, not a bearer
    token, so a hint naming a /v1 call would send it where it cannot go."""

    follow: str  # an operation's progress
    clusters: str  # the clusters that exist
    start: str
    stop: str


V1 = Surface(follow="GET /v1/operations/{id}", clusters="GET /v1/clusters",
             start="POST /v1/clusters/{name}/start", stop="POST /v1/clusters/{name}/stop")


def no_such_cluster(name: str, surface: Surface = V1) -> NotFoundError:
    return NotFoundError(f"no cluster named {name!r}", field="name",
                         hint=f"{surface.clusters} lists the clusters that exist")


def get_cluster(s: Session, name: str, surface: Surface = V1) -> Cluster:
    cluster = s.scalars(select(Cluster).where(Cluster.name == name)).first()
    if cluster is None:
        raise no_such_cluster(name, surface)
    return cluster


def _lock_cluster(s: Session, name: str, surface: Surface) -> Cluster:
    """The cluster, write-locked for this transaction: two calls on one cluster at once
    are decided one after the other, so only one of them starts an operation."""
    # a write first: SQLite takes its write lock here, PostgreSQL/MariaDB lock the row
    s.execute(update(Cluster).where(Cluster.name == name)
              .values(updated_at=datetime.now(UTC)))
    return get_cluster(s, name, surface)


def _refuse_if_busy(s: Session, cluster: Cluster, verb: str, surface: Surface) -> None:
    op = s.scalars(select(Operation).where(
        Operation.cluster_id == cluster.id,
        Operation.status.in_([TaskStatus.STARTING, TaskStatus.STARTED]))
        .order_by(Operation.id.desc())).first()
    if op is not None:
        raise ConflictError(
            f"cluster {cluster.name!r} is busy with operation {op.id} ({op.type}, "
            f"{op.status}); it cannot {verb} until that operation has finished",
            hint=f"follow {surface.follow.format(id=op.id)}, then try again (a DELETE "
                 "would supersede it)")


def _refuse_unless_running(cluster: Cluster, verb: str, surface: Surface) -> None:
    if cluster.status != ClusterStatus.RUNNING:
        raise ConflictError(
            f"cluster {cluster.name!r} is {cluster.status}; only a RUNNING cluster can "
            f"{verb}", hint=f"start it first: {surface.start.format(name=cluster.name)}")


def _group(plan: ClusterPlan, cluster: str, name: str) -> GroupPlan:
    group = plan.group(name)
    if group is None:
        raise NotFoundError(
            f"cluster {cluster!r} has no node group {name!r}; its node groups are "
            f"{', '.join(repr(g.name) for g in plan.groups)}", field="group")
    return group


def _operation(s: Session, cluster: Cluster, op_type: OperationType) -> Operation:
    op = Operation(cluster_id=cluster.id, target=cluster.name, type=op_type,
                   status=TaskStatus.STARTING, progress=0, succeed_nodes=[], fail_nodes=[],
                   progress_message="waiting for the engine", requested_by=caller.get())
    s.add(op)
    s.flush()
    return op


def _begin(s: Session, cluster: Cluster, op_type: OperationType, status: ClusterStatus,
           desired: Desired) -> Operation:
    cluster.status = status
    cluster.desired = desired
    return _operation(s, cluster, op_type)


def _placed(s: Session, cluster: Cluster, ctx: ApiContext) -> placement.Resolved:
    """The network and resource pool the cluster was placed in, write-locked."""
    placement.lock(s, cluster.network_name, cluster.resource_pool_name)
    return placement.resolve(s, Placement(network=cluster.network_name,
                                          resource_pool=cluster.resource_pool_name),
                             ctx.provider)


def create_cluster(ctx: ApiContext, *, name: str, cluster_type: str,
                   node_groups: Sequence[Mapping[str, Any]] = (),
                   configuration: Mapping[str, Any] | None = None,
                   healing: Mapping[str, Any] | None = None,
                   spec: ClusterSpec | None = None,
                   where: Placement | None = None) -> Operation:
    """A cluster of the catalog type ``cluster_type`` (``node_groups`` override its groups
    by name), or of ``spec`` when given (a full spec from the request; ``cluster_type``
    is then only recorded)."""
    validate_cluster_name(name)
    where = where or Placement()
    kind = None
    if spec is None:
        kind = ctx.catalog.get(cluster_type)
        spec, cluster_type = kind.spec, kind.name
    plan = expand(spec, cluster_name=name, cluster_type=cluster_type, overrides=node_groups,
                  configuration=configuration, healing=healing, limits=ctx.limits)
    # where each role's software comes from: the catalog distro's packages and depot
    # tarballs (a full spec from the request has no distro; its roles install their own
    # default packages)
    plan = replace(plan, software=dict(kind.software) if kind else {})
    ctx.validate_plan(plan)
    if kind is not None and kind.software_problem:
        raise SpecError(f"cluster type {kind.name!r} cannot run here: "
                        f"{kind.software_problem}", field="type",
                        hint="the operator publishes the distro's software in a catalog "
                             "folder's distros/ (see the README's software depot)")
    conflict = ConflictError(f"a cluster named {name!r} already exists", field="name",
                             hint="choose another name, or delete the existing cluster first")
    try:
        with ctx.store.session() as s:
            # first: what is counted below cannot change until this transaction ends
            placement.lock(s, where.network, where.resource_pool)
            if s.scalars(select(Cluster.id).where(Cluster.name == name)).first():
                raise conflict
            placed = placement.resolve(s, where, ctx.provider)
            placement.check_room(s, cluster=name, plan=plan, new_nodes=len(plan.nodes()),
                                 network=placed.network, pool=placed.pool,
                                 network_field=where.network_field,
                                 pool_field=where.pool_field)
            if placed.network is not None and not placed.network.is_dhcp \
                    and ctx.static_network_refusal:
                raise SpecError(f"{where.network_field}: network {placed.network.name!r} "
                                f"gives static addresses; {ctx.static_network_refusal}",
                                field=where.network_field,
                                hint="leave the network out, or name a DHCP network")
            ctx.check_node_room(s, name, len(plan.nodes()), "nodeGroups")
            cluster = Cluster(
                name=name, type=cluster_type, plan=plan.to_dict(),
                status=ClusterStatus.PROVISIONING, desired=Desired.RUNNING, endpoints={},
                network_name=placed.network.name if placed.network else None,
                resource_pool_name=placed.pool.name if placed.pool else None,
                datastore_names=list(placed.datastores) or None)
            s.add(cluster)
            s.flush()
            for node in plan.nodes():
                s.add(Node(cluster_id=cluster.id, name=node.name, group_name=node.group,
                           index=node.index, status=NodeStatus.NOT_EXIST, roles_started=[]))
            op = _operation(s, cluster, OperationType.CREATE)
    except IntegrityError as exc:  # lost a race with a concurrent create of the same name
        raise conflict from exc
    ctx.notify()
    return op


# BDE's API has no forced delete: only /v1 callers are pointed at it
FORCE_HINT = ("; if the provider keeps refusing, delete with force=true to give up on what "
              "it will not delete")


def delete_cluster(ctx: ApiContext, name: str, *, force: bool = False,
                   surface: Surface = V1) -> Operation:
    """Delete every node; supersedes whatever operation is still in progress. ``force``
    gives up on nodes the provider keeps refusing to delete (after its retries) and says
    what may be left behind; it also supersedes a delete still in progress."""
    with ctx.store.session() as s:
        cluster = get_cluster(s, name, surface)
        active = s.scalars(select(Operation).where(
            Operation.cluster_id == cluster.id,
            Operation.status.in_([TaskStatus.STARTING, TaskStatus.STARTED]))).all()
        for op in active:
            if op.type == OperationType.DELETE and (op.force or not force):
                raise ConflictError(
                    f"cluster {name!r} is already being deleted by operation {op.id}"
                    + (" (forced)" if op.force else ""),
                    hint=f"follow {surface.follow.format(id=op.id)}" + (
                        FORCE_HINT if surface is V1 and not op.force else ""))
        for op in active:
            # delete wins over a create still in progress; the engine stops working on it
            op.status = TaskStatus.ABANDONED
            op.progress_message = ("abandoned: superseded by a forced delete" if force
                                   and op.type == OperationType.DELETE
                                   else "abandoned: the cluster is being deleted")
        op = _begin(s, cluster, OperationType.DELETE, ClusterStatus.DELETING, Desired.ABSENT)
        op.force = force
    ctx.notify()
    return op


def stop_cluster(ctx: ApiContext, name: str, *, surface: Surface = V1) -> Operation:
    """Stop every role (reverse bootstrap order), then power every node off; data stays."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name, surface)
        _refuse_if_busy(s, cluster, "stop", surface)
        if cluster.status == ClusterStatus.STOPPED:
            raise ConflictError(f"cluster {name!r} is already STOPPED",
                                hint=f"start it with {surface.start.format(name=name)}")
        op = _begin(s, cluster, OperationType.STOP, ClusterStatus.STOPPING, Desired.STOPPED)
    ctx.notify()
    return op


def start_cluster(ctx: ApiContext, name: str, *, surface: Surface = V1) -> Operation:
    """Power the nodes on and start the roles stage by stage until healthy (also the
    retry of a failed create or resize)."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name, surface)
        _refuse_if_busy(s, cluster, "start", surface)
        if cluster.status == ClusterStatus.RUNNING:
            raise ConflictError(f"cluster {name!r} is already RUNNING",
                                hint=f"stop it first with {surface.stop.format(name=name)}")
        op = _begin(s, cluster, OperationType.START, ClusterStatus.STARTING, Desired.RUNNING)
    ctx.notify()
    return op


def resize_group(ctx: ApiContext, name: str, group: str, count: int, *,
                 field: str = "instanceNum", surface: Surface = V1) -> Operation:
    """Grow or shrink a node group: new nodes join the running cluster; removed ones
    (the highest indexes) are decommissioned, stopped and deleted."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name, surface)
        plan = ClusterPlan.from_dict(cluster.plan)
        current = _group(plan, name, group)
        allowed = IntRange(current.instance_num, current.instance_min, current.instance_max)
        if not allowed.allows(count):
            upper = "∞" if allowed.maximum is None else allowed.maximum
            raise SpecError(
                f"{field}: node group '{group}' of cluster '{name}' may have "
                f"{allowed.describe()} nodes (range [{allowed.minimum},{upper}] from the "
                f"'{cluster.type}' type's spec); {count} is outside it", field=field,
                hint=f"give a number from {allowed.minimum}"
                     + ("" if allowed.maximum is None else f" to {allowed.maximum}"))
        if count == current.instance_num:
            raise SpecError(f"{field}: node group '{group}' of cluster '{name}' already "
                            f"has {count} nodes; nothing to resize", field=field)
        ctx.limits.check_nodes(plan.node_count() - current.instance_num + count, field,
                               f"cluster {name!r}")
        _refuse_if_busy(s, cluster, "resize", surface)
        _refuse_unless_running(cluster, "resize", surface)
        resized = replace(plan, groups=tuple(
            replace(g, instance_num=count) if g.name == current.name else g
            for g in plan.groups))
        existing = {n.name for n in cluster.nodes}
        added = [n for n in resized.nodes()
                 if n.group == current.name and n.name not in existing]
        if count > current.instance_num:  # shrinking only gives room back
            placed = _placed(s, cluster, ctx)
            placement.check_room(s, cluster=name, plan=resized, new_nodes=len(added),
                                 network=placed.network, pool=placed.pool,
                                 network_field=field, pool_field=field)
            ctx.check_node_room(s, name, len(added), field)
        cluster.plan = resized.to_dict()
        for node in added:
            s.add(Node(cluster_id=cluster.id, name=node.name, group_name=node.group,
                       index=node.index, status=NodeStatus.NOT_EXIST, roles_started=[]))
        op = _begin(s, cluster, OperationType.RESIZE, ClusterStatus.UPDATING, Desired.RUNNING)
        op.progress_message = (f"waiting for the engine: {current.name} "
                               f"{current.instance_num} → {count} nodes")
    ctx.notify()
    return op


def _check_size(value: int | None, bounds: IntRange | None, field: str, group: str,
                unit: str) -> None:
    if value is not None and bounds is not None and not bounds.allows(value):
        raise SpecError(f"{field}: node group '{group}' may have {bounds.describe()} {unit} "
                        f"per node; {value} is outside that range", field=field)


def scale_group(ctx: ApiContext, name: str, group: str, cpu: int | None,
                memory_mb: int | None, *, cpu_field: str = "cpuNum",
                memory_field: str = "memCapacityMB", surface: Surface = V1) -> Operation:
    """Give every node of a group new CPU and/or memory, one node at a time."""
    with ctx.store.session() as s:
        cluster = _lock_cluster(s, name, surface)
        plan = ClusterPlan.from_dict(cluster.plan)
        current = _group(plan, name, group)
        if ctx.scale_refusal:
            raise NotSupportedError(f"cannot scale node group '{group}' of cluster "
                                    f"'{name}': {ctx.scale_refusal}")
        if cpu is None and memory_mb is None:
            raise SpecError(f"give {cpu_field}, {memory_field} or both", field=cpu_field)
        try:  # the operator's bounds, when the type is still in the catalog
            spec_group = ctx.catalog.get(cluster.type).spec.group(current.name)
        except NdovuError:
            spec_group = None
        ctx.limits.check_size(cpu, memory_mb, None, group=group,
                              fields=(cpu_field, memory_field, ""))
        if spec_group is not None:
            _check_size(cpu, spec_group.cpu_num, cpu_field, group, "CPUs")
            _check_size(memory_mb, spec_group.mem_capacity_mb, memory_field, group,
                        "MB of memory")
        cpu = cpu or current.cpu
        memory_mb = memory_mb or current.memory_mb
        if (cpu, memory_mb) == (current.cpu, current.memory_mb):
            raise SpecError(f"node group '{group}' of cluster '{name}' already has {cpu} CPU "
                            f"and {memory_mb} MB per node; nothing to scale", field=cpu_field)
        _refuse_if_busy(s, cluster, "scale", surface)
        _refuse_unless_running(cluster, "scale", surface)
        # sizes no longer follow an instance type once set by hand
        scaled = replace(plan, groups=tuple(
            replace(g, cpu=cpu, memory_mb=memory_mb, instance_type=None)
            if g.name == current.name else g for g in plan.groups))
        placed = _placed(s, cluster, ctx)
        placement.check_room(s, cluster=name, plan=scaled, new_nodes=0,
                             network=placed.network, pool=placed.pool,
                             network_field=cpu_field, pool_field=cpu_field)
        cluster.plan = scaled.to_dict()
        op = _begin(s, cluster, OperationType.SCALE, ClusterStatus.VMRECONFIGURING,
                    Desired.RUNNING)
        op.progress_message = (f"waiting for the engine: {current.name} to {cpu} CPU, "
                               f"{memory_mb} MB per node")
    ctx.notify()
    return op
