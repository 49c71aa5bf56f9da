"""Writing what the engine did: events, node state, progress, and each operation's outcome.

Every function here is a short transaction of its own, so what a pass has done is in the
store (and visible through the API) as soon as it is done. The helpers that take a
session (``event``, ``node_rows``, …) let the reconciler write a whole batch of finished
nodes in one transaction, loading their rows with one query.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from ndovu.engine.leases import current_engine
from ndovu.roles.base import Health
from ndovu.spec.model import NodePlan
from ndovu.statuses import (
    TERMINAL_TASK_STATUSES,
    ClusterStatus,
    NodeStatus,
    OperationType,
    TaskStatus,
)
from ndovu.store.db import Store
from ndovu.store.models import Cluster, Event, Node, Operation

if TYPE_CHECKING:
    from ndovu.engine.snapshot import Snapshot

log = logging.getLogger("ndovu.engine")

# the cluster's status when an operation fails: building nodes (create, resize) is a
# provisioning error; failing to stop, start, scale or delete what exists is an ERROR
FAILED_CLUSTER_STATUS: dict[str, ClusterStatus] = {
    OperationType.CREATE: ClusterStatus.PROVISION_ERROR,
    OperationType.RESIZE: ClusterStatus.PROVISION_ERROR,
    # a repair that failed leaves the cluster as unwell as it found it, and watched
    OperationType.HEAL: ClusterStatus.SERVICE_WARNING,
}


def event(session: Session, op: Operation | int | None, cluster: str, step: str, outcome: str,
          *, node: str | None = None, duration_s: float | None = None,
          message: str | None = None) -> None:
    """Append an event; ``op`` is the operation or its id (no need to load it)."""
    op_id = op.id if isinstance(op, Operation) else op
    session.add(Event(operation_id=op_id, cluster=cluster, node=node, step=step,
                      outcome=outcome, message=message, engine=current_engine.get(),
                      duration_ms=None if duration_s is None else int(duration_s * 1000)))


def has_event(session: Session, op: Operation | None, node: str, step: str) -> bool:
    """Whether the operation logged this step for this node already."""
    return op is not None and count_events(session, op.id, node, step) > 0


def count_events(session: Session, op_id: int, node: str, step: str,
                 outcome: str | None = None) -> int:
    """How many times the operation logged this step (with this outcome) for this node:
    e.g. the failed attempts of a provider call, which survive a restart."""
    query = select(func.count(Event.id)).where(Event.operation_id == op_id,
                                               Event.node == node, Event.step == step)
    if outcome is not None:
        query = query.where(Event.outcome == outcome)
    return session.scalar(query) or 0


def phase_started(session: Session, op_id: int, steps: list[str]) -> datetime | None:
    """When the operation first finished one of ``steps`` (e.g. the first start of a
    bootstrap stage's roles): the start of that phase, kept in the store, so a phase's
    deadline survives a restart and a slow earlier phase does not eat its time."""
    return session.scalar(select(func.min(Event.at)).where(
        Event.operation_id == op_id, Event.step.in_(steps), Event.outcome == "ok"))


def active_operation(session: Session, cluster_id: int) -> Operation | None:
    return session.scalars(
        select(Operation)
        .where(Operation.cluster_id == cluster_id,
               Operation.status.in_([TaskStatus.STARTING, TaskStatus.STARTED]))
        .order_by(Operation.id.desc())
    ).first()


def finish(op: Operation, status: TaskStatus, *, error: str | None = None,
           succeed: list[str] | None = None, fail: list[str] | None = None,
           message: str | None = None) -> None:
    if op.status in TERMINAL_TASK_STATUSES:
        return
    op.status = status
    op.finished_at = datetime.now(UTC)
    if status == TaskStatus.COMPLETED:
        op.progress = 100
    if error is not None:
        op.error_message = error
    if succeed is not None:
        op.succeed_nodes = sorted(succeed)
    if fail is not None:
        op.fail_nodes = sorted(fail)
    if message is not None:
        op.progress_message = message


def node_row(session: Session, snap: Snapshot, node: NodePlan) -> Node:
    return node_rows(session, snap, [node])[node.name]


def node_rows(session: Session, snap: Snapshot, nodes: Iterable[NodePlan]) -> dict[str, Node]:
    """The rows of these nodes by name, with one query; rows that do not exist yet are
    made (NOT_EXIST)."""
    nodes = list(nodes)
    rows = rows_named(session, snap, [n.name for n in nodes])
    for node in nodes:
        if node.name not in rows:
            rows[node.name] = Node(cluster_id=snap.cluster_id, name=node.name,
                                   group_name=node.group, index=node.index,
                                   status=NodeStatus.NOT_EXIST, roles_started=[])
            session.add(rows[node.name])
    return rows


def rows_named(session: Session, snap: Snapshot, names: Iterable[str]) -> dict[str, Node]:
    """The existing rows of these nodes by name, with one query."""
    names = list(names)
    if not names:
        return {}
    return {row.name: row for row in session.scalars(select(Node).where(
        Node.cluster_id == snap.cluster_id, Node.name.in_(names)))}


def done_before_restart(store: Store, snap: Snapshot, names: Iterable[str], step: str,
                        status: NodeStatus) -> None:
    """Nodes the provider shows ``step`` done for while their rows say otherwise (most
    often a pass that a crash cut short did it but could not record it): record it now,
    so the status is true and the operation's history is whole."""
    names = list(names)
    if not names:
        return
    with store.session() as s:
        for row in rows_named(s, snap, names).values():
            if row.status == status:
                continue
            row.status, row.action, row.roles_started = status, None, []
            event(s, snap.op_id, snap.name, step, "ok", node=row.name,
                  message="already done at the provider (e.g. by a pass a restart cut "
                          "short)")


def node_facts(session: Session, snap: Snapshot) -> dict[str, tuple[str | None, str]]:
    """Every node row of the cluster as name -> (address, status): three columns, no
    objects, for checks over a whole large cluster."""
    return {name: (address, status) for name, address, status in session.execute(
        select(Node.name, Node.address, Node.status).where(
            Node.cluster_id == snap.cluster_id))}


def mark_action(store: Store, snap: Snapshot, names: Iterable[str],
                action: str | None) -> None:
    names = list(names)
    if not names:
        return
    with store.session() as s:
        for row in rows_named(s, snap, names).values():
            row.action = action


def set_progress(store: Store, snap: Snapshot, progress: int, message: str) -> None:
    """Progress never goes back, and an operation that ended (a delete may abandon it at
    any moment) keeps its last words: one conditional UPDATE, no read-then-write race."""
    progress = min(99, progress)
    with store.session() as s:
        s.execute(update(Operation)
                  .where(Operation.id == snap.op_id,
                         Operation.status.not_in(list(TERMINAL_TASK_STATUSES)))
                  .values(progress=case((Operation.progress > progress, Operation.progress),
                                        else_=progress),
                          progress_message=message)
                  .execution_options(synchronize_session=False))


def forget_nodes(store: Store, snap: Snapshot, names: Iterable[str]) -> None:
    """Drop the rows of nodes that are gone and that the plan no longer wants."""
    names = list(names)
    if not names:
        return
    with store.session() as s:
        for row in s.scalars(select(Node).where(Node.cluster_id == snap.cluster_id,
                                                Node.name.in_(names))):
            s.delete(row)


def record_health(store: Store, snap: Snapshot, desired: list[NodePlan],
                  health: dict[tuple[str, str], Health], ready_roles: set[str],
                  unstarted: Collection[str] = ()) -> None:
    """Node statuses, actions and the operation's progress after a round of health checks.

    Each node counts three units (provisioned, roles started, SERVICE_READY); progress is
    held below 100 until the operation completes. Nodes in ``unstarted`` (waiting for
    their turn to join) are not ready whatever their roles."""
    waiting = {key: h for key, h in health.items() if not h.ok}
    # each node's results, gathered once (not one scan of every result per node)
    by_node: dict[str, list[tuple[str, Health]]] = {}
    for (name, role), result in sorted(health.items()):
        by_node.setdefault(name, []).append((role, result))
    elapsed = snap.elapsed_s()
    with store.session() as s:
        op = s.get(Operation, snap.op_id)
        rows = {r.name: r for r in s.scalars(select(Node).where(
            Node.cluster_id == snap.cluster_id))}
        for node in desired:
            row = rows[node.name]
            results = by_node.get(node.name, [])
            node_waiting = [(r, h.message) for r, h in results if not h.ok]
            if node_waiting:
                role, message = node_waiting[0]
                action = f"waiting for {role}"
                if not (row.action or "").startswith(action):  # one event per wait
                    event(s, op, snap.name, f"wait {role}", "waiting", node=node.name,
                          message=message)
                row.action = f"{action}: {message}"[:200]
            elif (row.status != NodeStatus.SERVICE_READY and set(node.roles) <= ready_roles
                  and node.name not in unstarted):
                row.status = NodeStatus.SERVICE_READY
                row.action = None
                row.error_message = None
                event(s, op, snap.name, "service ready", "ok", node=node.name,
                      duration_s=elapsed, message="; ".join(h.message for _, h in results))
        if op is None:
            return
        total = len(desired)
        ready = sum(1 for r in rows.values() if r.status == NodeStatus.SERVICE_READY)
        units = ready + sum(1 for r in rows.values() if r.address) + sum(
            1 for r in rows.values() if r.roles_started)
        message = f"{ready}/{total} nodes SERVICE_READY"
        if waiting:
            (node_name, role), h = sorted(waiting.items())[0]
            message += f"; waiting for {role} on {node_name}: {h.message}"
        if snap.op_type != OperationType.SCALE:  # a scale counts scaled nodes instead
            op.progress = min(99, int(100 * units / (3 * total))) if total else 99
            op.progress_message = message
        op.succeed_nodes = sorted(r.name for r in rows.values()
                                  if r.status == NodeStatus.SERVICE_READY)


def complete(store: Store, snap: Snapshot, endpoints: dict[str, str]) -> None:
    with store.session() as s:
        cluster = s.get(Cluster, snap.cluster_id)
        op = s.get(Operation, snap.op_id)
        if cluster is None or op is None or op.status in TERMINAL_TASK_STATUSES:
            return  # superseded (e.g. a delete abandoned this create)
        cluster.status = ClusterStatus.RUNNING
        cluster.endpoints = endpoints
        cluster.error_message = None
        finish(op, TaskStatus.COMPLETED, succeed=[n.name for n in cluster.nodes], fail=[],
               message=f"cluster {snap.name} is RUNNING")
        event(s, op, snap.name, "cluster running", "ok", duration_s=snap.elapsed_s(),
              message=", ".join(f"{k}={v}" for k, v in endpoints.items()))
    log.info("cluster %s is RUNNING", snap.name)


def stopped(store: Store, snap: Snapshot, powered_off: Iterable[str]) -> None:
    """Every node that exists is off: the cluster is STOPPED, its data kept."""
    names = set(powered_off)
    with store.session() as s:
        cluster = s.get(Cluster, snap.cluster_id)
        op = s.get(Operation, snap.op_id)
        if cluster is None or op is None or op.status in TERMINAL_TASK_STATUSES:
            return  # superseded (e.g. a delete abandoned this stop)
        for row in cluster.nodes:
            if row.name in names:
                row.status, row.action, row.roles_started = NodeStatus.POWERED_OFF, None, []
        cluster.status = ClusterStatus.STOPPED
        cluster.error_message = None
        finish(op, TaskStatus.COMPLETED, succeed=sorted(names), fail=[],
               message=f"cluster {snap.name} is STOPPED")
        event(s, op, snap.name, "cluster stopped", "ok", duration_s=snap.elapsed_s(),
              message=f"{len(names)} nodes powered off; their data is kept")
    log.info("cluster %s is STOPPED", snap.name)


def fail(store: Store, snap: Snapshot, node_errors: dict[str, str],
         summary: str | None = None, *, keep_node_status: bool = False) -> None:
    """Fail the operation: each failed node keeps its own error, the summary names them.

    Failed nodes become BOOTSTRAP_FAILED unless ``keep_node_status`` (a node that could
    not be stopped or removed is still what it was)."""
    text = summary or "; ".join(f"node {n}: {m}" for n, m in sorted(node_errors.items()))
    with store.session() as s:
        cluster = s.get(Cluster, snap.cluster_id)
        op = s.get(Operation, snap.op_id)
        if cluster is None or op is None or op.status in TERMINAL_TASK_STATUSES:
            return  # superseded (e.g. a delete abandoned this create)
        for row in cluster.nodes:
            if row.name in node_errors:
                # also a node the provider never made: BDE's status for a node that failed
                if not keep_node_status:
                    row.status = NodeStatus.BOOTSTRAP_FAILED
                row.error_message = node_errors[row.name]
                row.action = None
        cluster.status = FAILED_CLUSTER_STATUS.get(op.type, ClusterStatus.ERROR)
        cluster.error_message = text
        ready = [r.name for r in cluster.nodes if r.status == NodeStatus.SERVICE_READY]
        finish(op, TaskStatus.FAILED, error=text, succeed=ready, fail=sorted(node_errors),
               message=f"cluster {snap.name} failed")
        event(s, op, snap.name, f"{op.type.lower()} failed", "failed", message=text)
    log.warning("cluster %s: operation %s failed: %s", snap.name, snap.op_id, text)


def deleted(store: Store, snap: Snapshot, node_names: list[str]) -> None:
    """The cluster is gone: remove its rows, keep its operations and events."""
    with store.session() as s:
        # what a forced delete gave up on (ndovu.engine.reconciler.Reconciler._forget)
        left = list(s.scalars(select(Event).where(
            Event.operation_id == snap.op_id, Event.step == "forget node")
            .order_by(Event.id)))
        done = f"cluster {snap.name} deleted"
        if left:
            done += (f" by force; {len(left)} node(s) the provider would not delete may be "
                     "left behind: " + "; ".join(f"{e.node}: {e.message}" for e in left))
        for op in s.scalars(select(Operation).where(Operation.cluster_id == snap.cluster_id)):
            op.cluster_id = None
            if op.id == snap.op_id:
                finish(op, TaskStatus.COMPLETED,
                       succeed=[n for n in node_names if n not in {e.node for e in left}],
                       fail=[e.node for e in left if e.node], message=done)
                event(s, op, snap.name, "cluster deleted", "ok", duration_s=snap.elapsed_s())
        cluster = s.get(Cluster, snap.cluster_id)
        if cluster is not None:
            s.delete(cluster)
    log.info("cluster %s deleted", snap.name)
