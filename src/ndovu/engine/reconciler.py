"""One reconcile pass for one cluster: desired state vs what the provider really has.

Every pass has the same shape: load the cluster and its active operation (gone → done),
observe the provider, perform the next idempotent steps, write status as each step ends,
and return when to look again (``requeue_after``) instead of sleeping. A pass cut short
by a crash is simply run again: ``ensure_node`` adopts existing nodes, a started role is
remembered in ``Node.roles_started``, and starting a running service is a no-op.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from ndovu.engine import journal
from ndovu.engine.planner import bootstrap_stages, plan_roles
from ndovu.engine.snapshot import Snapshot, load_snapshot
from ndovu.errors import NdovuError
from ndovu.providers.base import NodeInfo, NodeRequest, Provider
from ndovu.roles.base import Health, Member, Role, RoleContext
from ndovu.spec.expand import deep_merge
from ndovu.spec.model import NodePlan
from ndovu.statuses import NodeStatus
from ndovu.store.db import Store
from ndovu.store.models import Node, Operation

# how often to look again while software is coming up
HEALTH_POLL_S = 0.1
T = TypeVar("T")
Members = Mapping[str, tuple[Member, ...]]


@dataclass(frozen=True)
class EndPass:
    """A phase ended the pass early: wait (``requeue_after`` seconds) or failed (None)."""

    requeue_after: float | None


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "no result"
    return exc.message if isinstance(exc, NdovuError) else f"{type(exc).__name__}: {exc}"


class Reconciler:
    def __init__(self, store: Store, provider: Provider, roles: Mapping[str, Role],
                 node_pool: Executor, *, bootstrap_timeout_s: float = 600.0):
        self.store = store
        self.provider = provider
        self.roles = roles
        self.node_pool = node_pool
        self.bootstrap_timeout_s = bootstrap_timeout_s

    def reconcile(self, cluster_id: int) -> float | None:
        """Run one pass; return seconds until the next pass, or None when done."""
        snap = load_snapshot(self.store, cluster_id)
        if snap is None:
            return None
        if snap.desired == "absent":
            self._delete(snap)
            return None
        return self._converge(snap)

    def _parallel(self, items: list[Any], work: Callable[[Any], T],
                  done: Callable[[Any, T | None, BaseException | None, float], None]) -> None:
        """Run ``work`` for every item on the node pool; call ``done`` as each finishes
        (on this thread, so store writes stay on the pass's thread)."""

        def timed(item: Any) -> tuple[T, float]:
            began = time.monotonic()
            return work(item), time.monotonic() - began

        futures = {self.node_pool.submit(timed, item): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            try:
                result, took = future.result()
            except Exception as exc:  # reported per node by ``done``, never swallowed
                done(item, None, exc, 0.0)
            else:
                done(item, result, None, took)

    # -- create / converge -------------------------------------------------------------

    def _converge(self, snap: Snapshot) -> float | None:
        desired = snap.plan.nodes()
        try:
            stages = bootstrap_stages(plan_roles(snap.plan), self.roles)
        except NdovuError as exc:
            journal.fail(self.store, snap, {}, exc.message)
            return None

        infos, failures = self._provision(snap, desired)
        if failures:
            journal.fail(self.store, snap, failures)
            return None

        members = self._members(desired, infos)
        ready_roles: set[str] = set()
        for stage in stages:
            outcome = self._bootstrap_stage(snap, stage, desired, infos, members, ready_roles)
            if outcome is not None:
                return outcome.requeue_after
            ready_roles.update(stage)
        endpoints: dict[str, str] = {}
        for role in plan_roles(snap.plan):
            endpoints.update(self.roles[role].endpoints(snap.name, members))
        journal.complete(self.store, snap, endpoints)
        return None

    def _provision(self, snap: Snapshot, desired: list[NodePlan]
                   ) -> tuple[dict[str, NodeInfo], dict[str, str]]:
        """Make every desired node exist and run; remove nodes nobody wants."""
        observed = {n.name: n for n in self.provider.list_nodes(snap.name)}
        wanted = {n.name for n in desired}
        infos = {name: info for name, info in observed.items() if name in wanted}
        todo = [n for n in desired
                if n.name not in observed or not observed[n.name].powered_on]
        failures: dict[str, str] = {}

        def provision(node: NodePlan) -> NodeInfo:
            if node.name in observed:
                return self.provider.power_on(snap.name, node.name)
            return self.provider.ensure_node(NodeRequest(
                cluster=snap.name, name=node.name, group=node.group, index=node.index,
                cpu=node.cpu, memory_mb=node.memory_mb, storage_gb=node.storage_gb))

        def provisioned(node: NodePlan, info: NodeInfo | None, exc: BaseException | None,
                        took: float) -> None:
            with self.store.session() as s:
                row = journal.node_row(s, snap, node)
                op = s.get(Operation, snap.op_id)
                if info is None:
                    failures[node.name] = _error_text(exc)
                    row.status, row.error_message, row.action = (
                        NodeStatus.NOT_EXIST, failures[node.name], None)
                    journal.event(s, op, snap.name, "provision", "failed", node=node.name,
                                  message=failures[node.name])
                    return
                infos[node.name] = info
                row.address, row.provider_id = info.address, info.provider_id
                row.status, row.error_message, row.action = (
                    NodeStatus.VM_READY, None, "provisioned")
                journal.event(s, op, snap.name, "provision", "ok", node=node.name,
                              duration_s=took, message=f"address {info.address}")

        if todo:
            journal.mark_action(self.store, snap, [n.name for n in todo], "provisioning")
            self._parallel(todo, provision, provisioned)
        for orphan in sorted(set(observed) - wanted):
            # left behind by an interrupted earlier operation: not desired, remove it
            self.provider.delete_node(snap.name, orphan)
            with self.store.session() as s:
                journal.event(s, s.get(Operation, snap.op_id), snap.name, "remove orphan",
                              "ok", node=orphan)
        with self.store.session() as s:
            # nodes adopted from the provider (made before a crash) may be unknown rows
            for node in desired:
                info = infos.get(node.name)
                row = journal.node_row(s, snap, node)
                if info is not None and row.address != info.address:
                    row.address, row.provider_id = info.address, info.provider_id
                if info is not None and row.status == NodeStatus.NOT_EXIST:
                    row.status, row.error_message = NodeStatus.VM_READY, None
        return infos, failures

    def _members(self, desired: list[NodePlan], infos: dict[str, NodeInfo]) -> Members:
        members: dict[str, list[Member]] = {}
        for node in desired:  # plan order: groups in spec order, then index
            member = Member(node.name, node.group, node.index, infos[node.name].address)
            for role in node.roles:
                members.setdefault(role, []).append(member)
        return {role: tuple(ms) for role, ms in members.items()}

    def _context(self, snap: Snapshot, node: NodePlan, info: NodeInfo,
                 members: Members) -> RoleContext:
        group = snap.plan.group(node.group)
        configuration = deep_merge(snap.plan.configuration,
                                   group.configuration if group else {})
        return RoleContext(cluster=snap.name,
                           node=Member(node.name, node.group, node.index, info.address),
                           transport=self.provider.transport(info), members=members,
                           configuration=configuration)

    def _bootstrap_stage(self, snap: Snapshot, stage: list[str], desired: list[NodePlan],
                         infos: dict[str, NodeInfo], members: Members,
                         ready_roles: set[str]) -> EndPass | None:
        """Start the stage's roles where not yet started, then check their health.

        Returns None when every role of the stage is healthy on every node, else how the
        pass ends (requeue while waiting, or the failure).
        """
        work = [(node, role) for node in desired for role in node.roles if role in stage]
        to_start = [(n, r) for n, r in work if r not in snap.roles_started.get(n.name, [])]
        failures: dict[str, str] = {}

        def start(item: tuple[NodePlan, str]) -> None:
            node, role = item
            ctx = self._context(snap, node, infos[node.name], members)
            self.roles[role].configure(ctx)
            self.roles[role].start(ctx)

        def started(item: tuple[NodePlan, str], _: None, exc: BaseException | None,
                    took: float) -> None:
            node, role = item
            with self.store.session() as s:
                op = s.get(Operation, snap.op_id)
                if exc is not None:
                    failures[node.name] = f"{role}: {_error_text(exc)}"
                    journal.event(s, op, snap.name, f"start {role}", "failed", node=node.name,
                                  message=failures[node.name])
                    return
                row = journal.node_row(s, snap, node)
                row.roles_started = [*row.roles_started, role]
                row.action = f"starting {role}"
                snap.roles_started.setdefault(node.name, []).append(role)
                journal.event(s, op, snap.name, f"start {role}", "ok", node=node.name,
                              duration_s=took)

        if to_start:
            journal.mark_action(self.store, snap, sorted({n.name for n, _ in to_start}),
                                f"configuring {', '.join(stage)}")
            self._parallel(to_start, start, started)
        if failures:
            journal.fail(self.store, snap, failures)
            return EndPass(None)

        health: dict[tuple[str, str], Health] = {}

        def check(item: tuple[NodePlan, str]) -> Health:
            node, role = item
            return self.roles[role].health(self._context(snap, node, infos[node.name], members))

        def checked(item: tuple[NodePlan, str], result: Health | None,
                    exc: BaseException | None, _: float) -> None:
            node, role = item
            health[(node.name, role)] = result or Health(False, _error_text(exc))

        self._parallel(work, check, checked)
        failures = {n: f"{r}: {h.message}" for (n, r), h in health.items() if h.failed}
        if failures:
            journal.fail(self.store, snap, failures)
            return EndPass(None)

        journal.record_health(self.store, snap, desired, health, ready_roles | set(stage))
        waiting = {key: h for key, h in health.items() if not h.ok}
        if not waiting:
            return None
        if snap.elapsed_s() > self.bootstrap_timeout_s:
            detail = "; ".join(f"{n}: {r} {h.message}" for (n, r), h in sorted(waiting.items()))
            journal.fail(
                self.store, snap,
                {n: f"{r} not healthy: {h.message}" for (n, r), h in waiting.items()},
                f"timed out after {self.bootstrap_timeout_s:g} s waiting for "
                f"{', '.join(stage)} to become healthy ({detail})")
            return EndPass(None)
        return EndPass(HEALTH_POLL_S)

    # -- delete ------------------------------------------------------------------------

    def _delete(self, snap: Snapshot) -> None:
        observed = self.provider.list_nodes(snap.name)
        failures: dict[str, str] = {}

        def delete(info: NodeInfo) -> None:
            self.provider.delete_node(snap.name, info.name)

        def deleted(info: NodeInfo, _: None, exc: BaseException | None, took: float) -> None:
            with self.store.session() as s:
                op = s.get(Operation, snap.op_id)
                if exc is not None:
                    failures[info.name] = _error_text(exc)
                    journal.event(s, op, snap.name, "delete node", "failed", node=info.name,
                                  message=failures[info.name])
                    return
                for row in s.query(Node).filter_by(cluster_id=snap.cluster_id,
                                                   name=info.name):
                    row.status, row.action = NodeStatus.NOT_EXIST, None
                journal.event(s, op, snap.name, "delete node", "ok", node=info.name,
                              duration_s=took)

        if observed:
            journal.mark_action(self.store, snap, [n.name for n in observed], "deleting")
            self._parallel(observed, delete, deleted)
        if failures:
            journal.fail(self.store, snap, failures)
            return
        journal.deleted(self.store, snap, [n.name for n in observed])
