"""One reconcile pass for one cluster: desired state vs what the provider really has.

Every pass has the same shape: load the cluster and its active operation (gone → done),
observe the provider, perform the next idempotent steps, write status as each step ends,
and return when to look again (``requeue_after``) instead of sleeping. A pass cut short
by a crash is simply run again: ``ensure_node`` adopts existing nodes, a started role is
remembered in ``Node.roles_started``, and starting a running service is a no-op.

What the cluster should be (``Cluster.desired``) picks the pass:

- ``running`` — converge: remove nodes the plan no longer wants (decommissioned first),
  create or power on the nodes it wants, start roles stage by stage, wait for health. It
  serves create, start, resize and scale alike.
- ``stopped`` — stop roles in reverse stage order, then power every node off.
- ``absent`` — delete every node.

Provider calls that fail with a retryable error are tried again with back-off
(``engine.retries``): the node is skipped until its next attempt is due and the pass is
requeued for then, so no node-pool slot waits and the other nodes carry on. A node that
used up its attempts, or failed with an error that is not retryable, fails the operation
(docs/design.md, "Failure policy").

Node work runs in parallel on the node pool; what it finished is written in batches, one
transaction for every node that finished while the previous batch was being written, so
a 1,000-node cluster costs tens of transactions, not thousands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from ndovu.engine import journal
from ndovu.engine.planner import bootstrap_stages, plan_roles
from ndovu.engine.retries import Retries, RetryPolicy
from ndovu.engine.snapshot import Snapshot, load_snapshot
from ndovu.errors import NdovuError, NodePending
from ndovu.providers.base import NodeInfo, NodeRequest, Provider
from ndovu.roles.base import Health, Member, Role, RoleContext
from ndovu.spec.expand import deep_merge
from ndovu.spec.model import ClusterPlan, NodePlan
from ndovu.statuses import Desired, NodeStatus, OperationType
from ndovu.store.db import Store
from ndovu.store.models import Node
from ndovu.transports.base import Transport

log = logging.getLogger("ndovu.engine")

# how often to look again while software is coming up; a large stage is looked at less
# often (HEALTH_POLL_PER_NODE_S per node checked: a 1,000-node stage once a second), since
# every look checks every node and a pass over a thousand nodes costs CPU of its own
HEALTH_POLL_S = 0.1
HEALTH_POLL_PER_NODE_S = 0.001
# how soon a node whose join a running cluster refused for now asks again
JOIN_RETRY_S = 1.0
T = TypeVar("T")
Members = Mapping[str, tuple[Member, ...]]
# one finished piece of node work: (item, result or None, error or None, seconds taken)
Finished = tuple[Any, Any, BaseException | None, float]


def health_requeue_s(nodes_checked: int, took_s: float, cpu_s: float) -> float:
    """Seconds from the end of a round of health checks to the next round.

    Rounds begin every HEALTH_POLL_S (HEALTH_POLL_PER_NODE_S per node for a large
    stage), counted from when the last round began: a check that waited for its answer
    (etcd holds a request until its member has a quorum, up to the probe's timeout) has
    waited that long already, and the nodes it held back are looked at again at once.
    Waiting costs nothing; the CPU the checks burned (``cpu_s``) does, so the next
    round is never sooner than that: at most half the engine's time goes to checking.
    """
    interval = max(HEALTH_POLL_S, HEALTH_POLL_PER_NODE_S * nodes_checked)
    return max(interval - took_s, cpu_s)


@dataclass(frozen=True)
class ProviderCall:
    """One provider call for one node; its failures are retried per (node, step)."""

    node: str
    step: str
    work: Callable[[], Any]
    # the node's status once the call failed (a node whose create failed does not exist)
    failed_status: NodeStatus | None = None


@dataclass(frozen=True)
class EndPass:
    """A phase ended the pass early: wait (``requeue_after`` seconds) or failed (None)."""

    requeue_after: float | None


def _error_text(exc: BaseException | None) -> str:
    if exc is None:
        return "no result"
    return exc.message if isinstance(exc, NdovuError) else f"{type(exc).__name__}: {exc}"


def _timed(work: Callable[[], T]) -> tuple[T | None, BaseException | None, float]:
    """Run one step: (result, error, seconds); the error is reported, never swallowed."""
    began = time.monotonic()
    try:
        return work(), None, time.monotonic() - began
    except Exception as exc:
        return None, exc, time.monotonic() - began


def members_of(nodes: list[NodePlan], infos: Mapping[str, NodeInfo]) -> Members:
    """Each role's members, in plan order (groups in spec order, then index)."""
    members: dict[str, list[Member]] = {}
    for node in nodes:
        member = Member(node.name, node.group, node.index, infos[node.name].address)
        for role in node.roles:
            members.setdefault(role, []).append(member)
    return {role: tuple(ms) for role, ms in members.items()}


class Reconciler:
    def __init__(self, store: Store, provider: Provider, roles: Mapping[str, Role],
                 node_pool: Executor, *, bootstrap_timeout_s: float = 600.0,
                 retry: RetryPolicy | None = None, depot_url: str = ""):
        self.store = store
        # where nodes download the software depot's files (roles' tarballs)
        self.depot_url = depot_url
        self.provider = provider
        self.roles = roles
        self.node_pool = node_pool
        self.bootstrap_timeout_s = bootstrap_timeout_s
        self.retries = Retries(retry or RetryPolicy())

    def reconcile(self, cluster_id: int) -> float | None:
        """Run one pass; return seconds until the next pass, or None when done."""
        snap = load_snapshot(self.store, cluster_id)
        self.retries.forget_other_operations(cluster_id, snap.op_id if snap else None)
        if snap is None:
            return None
        if snap.desired == Desired.ABSENT:
            return self._delete(snap)
        if snap.desired == Desired.STOPPED:
            return self._stop(snap)
        return self._converge(snap)

    def _finished(self, items: list[Any], work: Callable[[Any], Any]
                  ) -> Iterator[list[Finished]]:
        """Run ``work`` for every item on the node pool; yield what has finished, in
        batches: everything that finished while the caller handled the previous batch (on
        this thread, so the caller's store writes stay on the pass's thread)."""

        def timed(item: Any) -> tuple[Any, float]:
            began = time.monotonic()
            return work(item), time.monotonic() - began

        futures = {self.node_pool.submit(timed, item): item for item in items}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            batch: list[Finished] = []
            for future in done:
                try:
                    result, took = future.result()
                except Exception as exc:  # reported per item by the caller, never swallowed
                    batch.append((futures[future], None, exc, 0.0))
                else:
                    batch.append((futures[future], result, None, took))
            yield batch

    def _stages(self, snap: Snapshot) -> list[list[str]] | None:
        try:
            return bootstrap_stages(plan_roles(snap.plan), self.roles)
        except NdovuError as exc:
            journal.fail(self.store, snap, {}, exc.message)
            return None

    # -- provider failures: retried with back-off (engine.retries), then final ----------

    def _end_waiting(self, snap: Snapshot, retry_in: dict[str, float], failures: dict[str, str],
                     what: str, **fail_options: Any) -> EndPass | None:
        """After a round of provider calls: fail the operation when some node failed for
        good (the nodes still waiting to try again are not tried any more), requeue the
        pass for the next attempt due when some wait, else None (carry on)."""
        if failures:
            journal.mark_action(self.store, snap, retry_in, None)
            journal.fail(self.store, snap, failures, **fail_options)
            return EndPass(None)
        if retry_in:
            journal.set_progress(self.store, snap, 0, (
                f"{what}: waiting for {', '.join(sorted(retry_in)[:5])}"
                f"{' and others' if len(retry_in) > 5 else ''} (see each node's action)"))
            return EndPass(min(retry_in.values()))
        return None

    def _provider_round(self, snap: Snapshot, calls: list[ProviderCall], action: str,
                        on_ok: Callable[[Session, Node | None, ProviderCall, Any, float], None],
                        *, rows: Callable[[Session, list[str]], dict[str, Node]] | None = None,
                        error_prefix: str = "") -> tuple[dict[str, float], dict[str, str]]:
        """One round of provider calls, the same for every verb: calls whose next attempt
        is not due yet wait without a pool slot; the others run in parallel; a failure is
        retried with back-off (``engine.retries``) or final. ``on_ok`` records a success
        on the node's row. Returns (nodes waiting to try again with the seconds until then,
        nodes failed for good with their errors)."""
        retry_in = {c.node: self.retries.wait(snap, c.node, c.step) for c in calls}
        retry_in = {name: left for name, left in retry_in.items() if left > 0}
        todo = [c for c in calls if c.node not in retry_in]
        failures: dict[str, str] = {}
        if not todo:
            return retry_in, failures
        journal.mark_action(self.store, snap, [c.node for c in todo], action)
        for batch in self._finished(todo, lambda call: call.work()):
            with self.store.session() as s:
                names = [call.node for call, *_ in batch]
                found = rows(s, names) if rows else journal.rows_named(s, snap, names)
                for call, result, exc, took in batch:
                    row = found.get(call.node)
                    if exc is None:
                        self.retries.succeeded(snap, call.node, call.step)
                        on_ok(s, row, call, result, took)
                        continue
                    if isinstance(exc, NodePending):
                        self.retries.later(snap, call.node, call.step, exc.check_after_s)
                        retry_in[call.node] = exc.check_after_s
                        if row is not None:
                            row.action = exc.message[:200]
                        continue
                    text = _error_text(exc)
                    error = self.retries.failed(s, snap, call.node, call.step, exc, text, took)
                    if row is not None and call.failed_status is not None:
                        row.status = call.failed_status
                    if error is None:
                        retry_in[call.node] = self.retries.wait(snap, call.node, call.step)
                        if row is not None:
                            row.action = f"{call.step} failed, trying again: {text}"[:200]
                    else:
                        failures[call.node] = f"{error_prefix}{error}"
        return retry_in, failures

    # -- create / start / resize / scale: converge -----------------------------------

    def _converge(self, snap: Snapshot) -> float | None:
        desired = snap.plan.nodes()
        stages = self._stages(snap)
        if stages is None:
            return None
        observed = {n.name: n for n in self.provider.list_nodes(snap.name)}
        outcome = self._remove_unwanted(snap, desired, observed, stages)
        if outcome is not None:
            return outcome.requeue_after

        infos, failures, retry_in = self._provision(snap, desired, observed)
        outcome = self._end_waiting(snap, retry_in, failures, "provisioning")
        if outcome is not None:
            return outcome.requeue_after

        members = members_of(desired, infos)
        ready_roles: set[str] = set()
        for stage in stages:
            outcome = self._bootstrap_stage(snap, stage, desired, infos, members, ready_roles)
            if outcome is not None:
                return outcome.requeue_after
            ready_roles.update(stage)
        if snap.op_type == OperationType.SCALE:
            outcome = self._scale_next(snap, desired, infos)
            if outcome is not None:
                return outcome.requeue_after
        endpoints: dict[str, str] = {}
        for role in plan_roles(snap.plan):
            endpoints.update(self.roles[role].endpoints(snap.name, members))
        journal.complete(self.store, snap, endpoints)
        return None

    def _remove_unwanted(self, snap: Snapshot, desired: list[NodePlan],
                         observed: dict[str, NodeInfo],
                         stages: list[list[str]]) -> EndPass | None:
        """Take away the nodes the plan no longer wants, before anything is added.

        A node of this cluster that a resize dropped (it has a row) is decommissioned:
        its roles hand over, stop, and the node is deleted. Nodes without a row were left
        by an interrupted operation and never joined anything: they are just deleted.
        """
        wanted = {n.name for n in desired}
        unwanted = [info for name, info in observed.items() if name not in wanted]
        for orphan in sorted(i.name for i in unwanted if i.name not in snap.node_groups):
            self.provider.delete_node(snap.name, orphan)
            with self.store.session() as s:
                journal.event(s, snap.op_id, snap.name, "remove orphan", "ok", node=orphan)
        # one at a time, highest index first: each departure changes the membership the
        # next one leaves from (etcd's quorum), so they are not independent
        leaving = sorted((i for i in unwanted if i.name in snap.node_groups),
                         key=lambda i: (i.group, -i.index))
        if leaving:
            staying = [n for n in desired if n.name in observed]
            members = members_of(staying, observed)
            for info in leaving:
                error = self._decommission_node(snap, info, stages, members, observed)
                if error is not None:
                    journal.fail(self.store, snap, {info.name: error}, keep_node_status=True)
                    return EndPass(None)
        # rows of unwanted nodes that are gone already (a crash came between the two)
        journal.forget_nodes(self.store, snap, [n for n in snap.node_groups
                                                if n not in wanted and n not in observed])
        return None

    def _decommission_node(self, snap: Snapshot, info: NodeInfo, stages: list[list[str]],
                           members: Members, nodes: Mapping[str, NodeInfo]) -> str | None:
        """Decommission and stop every role of the node (reverse stage order), then delete
        it; return the error that stopped this, or None."""
        group = snap.plan.group(info.group)
        roles = [r for stage in reversed(stages) for r in stage
                 if group is not None and r in group.roles]
        ctx = self.role_context(snap.name, snap.plan, info, members, nodes)
        steps: list[tuple[str, Callable[[], Any]]] = [
            (f"decommission {role}", lambda role=role: self.roles[role].decommission(ctx))
            for role in roles]
        if info.powered_on:  # an off node runs nothing
            steps += [(f"stop {role}", lambda role=role: self.roles[role].stop(ctx))
                      for role in roles]
        steps.append(("remove node", lambda: self.provider.delete_node(snap.name, info.name)))
        journal.mark_action(self.store, snap, [info.name], "decommissioning")
        for step, work in steps:
            _, exc, took = _timed(work)
            with self.store.session() as s:
                journal.event(s, snap.op_id, snap.name, step,
                              "failed" if exc else "ok", node=info.name, duration_s=took,
                              message=f"{step}: {_error_text(exc)}" if exc else None)
            if exc is not None:
                return f"{step}: {_error_text(exc)}"
        journal.forget_nodes(self.store, snap, [info.name])
        return None

    def _provision(self, snap: Snapshot, desired: list[NodePlan],
                   observed: dict[str, NodeInfo]
                   ) -> tuple[dict[str, NodeInfo], dict[str, str], dict[str, float]]:
        """Make every desired node exist and run: (nodes, failed nodes with their errors,
        nodes waiting to try again with the seconds until then)."""
        infos = {n.name: observed[n.name] for n in desired if n.name in observed}
        plans = {n.name: n for n in desired}

        def provision(node: NodePlan) -> NodeInfo:
            if node.name in observed:
                return self.provider.power_on(snap.name, node.name)
            return self.provider.ensure_node(NodeRequest(
                cluster=snap.name, name=node.name, group=node.group, index=node.index,
                cpu=node.cpu, memory_mb=node.memory_mb, storage_gb=node.storage_gb,
                address_pool=snap.address_pool))

        def provisioned(s: Session, row: Node | None, call: ProviderCall, info: NodeInfo,
                        took: float) -> None:
            assert row is not None  # node_rows makes the rows it lacks
            infos[call.node] = info
            row.address, row.provider_id = info.address, info.provider_id
            row.status, row.error_message, row.action = (
                NodeStatus.VM_READY, None, "provisioned")
            if call.step == "power on":
                # a node that was off runs nothing: every role starts again
                row.roles_started = []
                snap.roles_started[call.node] = []
            elif row.roles_ever_started:
                # made anew (the provider had lost it): no data, so it joins its peers
                row.roles_ever_started = []
                snap.roles_ever_started[call.node] = []
            journal.event(s, snap.op_id, snap.name, call.step, "ok", node=call.node,
                          duration_s=took, message=f"address {info.address}")

        wanted = [n for n in desired
                  if n.name not in observed or not observed[n.name].powered_on]
        calls = [ProviderCall(n.name, "power on", lambda n=n: provision(n))
                 if n.name in observed else
                 ProviderCall(n.name, "provision", lambda n=n: provision(n),
                              failed_status=NodeStatus.NOT_EXIST) for n in wanted]
        retry_in, failures = self._provider_round(
            snap, calls, "powering on" if all(n.name in observed for n in wanted)
            else "provisioning", provisioned,
            rows=lambda s, names: journal.node_rows(s, snap, [plans[n] for n in names]))
        self._adopt(snap, desired, infos)
        return infos, failures, retry_in

    def _adopt(self, snap: Snapshot, desired: list[NodePlan],
               infos: Mapping[str, NodeInfo]) -> None:
        """Rows for every desired node, with the address of the node the provider has:
        nodes made before a crash (adopted from the provider) may have none yet. Reads
        three columns of every row and writes only the rows that differ."""
        with self.store.session() as s:
            known = journal.node_facts(s, snap)
            stale = [n for n in desired if n.name not in known or (
                n.name in infos and (known[n.name][0] != infos[n.name].address
                                     or known[n.name][1] == NodeStatus.NOT_EXIST))]
            if not stale:
                return
            rows = journal.node_rows(s, snap, stale)
            for node in stale:
                info, row = infos.get(node.name), rows[node.name]
                if info is not None and row.address != info.address:
                    row.address, row.provider_id = info.address, info.provider_id
                if info is not None and row.status == NodeStatus.NOT_EXIST:
                    row.status, row.error_message = NodeStatus.VM_READY, None
                    # made by a pass a crash cut short before it recorded the result
                    journal.event(s, snap.op_id, snap.name, "adopt node", "ok",
                                  node=node.name, message=f"the provider has it, at "
                                  f"{info.address}; made before a restart")

    def role_context(self, cluster: str, plan: ClusterPlan, info: NodeInfo, members: Members,
                     nodes: Mapping[str, NodeInfo], *, joining: bool = False) -> RoleContext:
        """What a role's step on the node ``info`` is given."""
        group = plan.group(info.group)
        configuration = deep_merge(plan.configuration, group.configuration if group else {})

        def peer_transport(member: Member) -> Transport:
            return self.provider.transport(nodes[member.name])

        return RoleContext(cluster=cluster,
                           node=Member(info.name, info.group, info.index, info.address),
                           transport=self.provider.transport(info), members=members,
                           configuration=configuration, joining=joining,
                           software=plan.software, depot_url=self.depot_url,
                           peer_transport=peer_transport)

    def _stage_elapsed_s(self, snap: Snapshot, stage: list[str]) -> float:
        """How long the stage has been starting: since its first role started in this
        operation (the deadline is per stage, so slow provisioning or a slow earlier
        stage leaves it its whole budget), or since the operation began when none has."""
        with self.store.session() as s:
            began = journal.phase_started(s, snap.op_id, [f"start {role}" for role in stage])
        return snap.elapsed_s(began)

    def _bootstrap_stage(self, snap: Snapshot, stage: list[str], desired: list[NodePlan],
                         infos: dict[str, NodeInfo], members: Members,
                         ready_roles: set[str]) -> EndPass | None:
        """Start the stage's roles where not yet started, then check their health.

        Returns None when every role of the stage is healthy on every node, else how the
        pass ends (requeue while waiting, or the failure).
        """
        work = [(node, role) for node in desired for role in node.roles if role in stage]
        to_start = [(n, r) for n, r in work if r not in snap.roles_started.get(n.name, [])]
        # A role joins when a resize (or a start retrying a failed one, even after a stop)
        # starts it on a node that never ran it while other nodes have: the nodes a resize
        # adds. Joiners go one at a time, each healthy before the next is admitted (etcd
        # refuses a member when too many admitted ones have not started: its quorum would
        # be lost); a join the cluster is not ready for yet is asked again. The nodes that
        # founded the cluster restart as its members, and a create never joins.
        ever = snap.roles_ever_started
        founded = {r for n, r in work if r in ever.get(n.name, [])}
        may_join = snap.op_type in (OperationType.RESIZE, OperationType.START,
                                    OperationType.HEAL)

        def joins(item: tuple[NodePlan, str]) -> bool:
            node, role = item
            return may_join and role in founded and role not in ever.get(node.name, [])

        joiners = [item for item in to_start if joins(item)]
        if joiners:
            to_start = [item for item in to_start if not joins(item)] + joiners[:1]
        failures: dict[str, str] = {}
        # joins the running cluster refused for now (retryable: etcd admits a member only
        # once every peer has been connected for a while); asked again on a later pass
        not_yet: dict[str, str] = {}

        def start(item: tuple[NodePlan, str]) -> None:
            node, role = item
            ctx = self.role_context(snap.name, snap.plan, infos[node.name], members, infos,
                                joining=joins(item))
            self.roles[role].install(ctx)
            self.roles[role].configure(ctx)
            self.roles[role].start(ctx)

        def started(s: Session, row: Node, item: tuple[NodePlan, str],
                    exc: BaseException | None, took: float) -> None:
            node, role = item
            joining = joins(item)
            if exc is not None and joining and getattr(exc, "retryable", False):
                not_yet[node.name] = f"{role}: {_error_text(exc)}"
                if not journal.count_events(s, snap.op_id, node.name, f"join {role}"):  # once
                    journal.event(s, snap.op_id, snap.name, f"join {role}", "waiting",
                                  node=node.name, message=not_yet[node.name])
                row.action = f"waiting to join {role}: {_error_text(exc)}"[:200]
                return
            if exc is not None:
                failures[node.name] = f"{role}: {_error_text(exc)}"
                journal.event(s, snap.op_id, snap.name, f"start {role}", "failed",
                              node=node.name, message=failures[node.name])
                return
            row.roles_started = [*row.roles_started, role]
            if role not in (row.roles_ever_started or []):
                row.roles_ever_started = [*(row.roles_ever_started or []), role]
            row.action = f"{'joining' if joining else 'starting'} {role}"
            snap.roles_started.setdefault(node.name, []).append(role)
            journal.event(s, snap.op_id, snap.name, f"start {role}", "ok", node=node.name,
                          duration_s=took, message="joined the running cluster"
                          if joining else None)

        if to_start:
            journal.mark_action(self.store, snap, sorted({n.name for n, _ in to_start}),
                                f"{'joining' if joiners else 'configuring'} "
                                f"{', '.join(stage)}")
            for batch in self._finished(to_start, start):
                with self.store.session() as s:
                    rows = journal.node_rows(s, snap, [node for (node, _), *_ in batch])
                    for item, _, exc, took in batch:
                        started(s, rows[item[0].name], item, exc, took)
        if failures:
            journal.fail(self.store, snap, failures)
            return EndPass(None)
        if not_yet:
            if self._stage_elapsed_s(snap, stage) > self.bootstrap_timeout_s:
                journal.fail(self.store, snap, not_yet,
                             f"timed out after {self.bootstrap_timeout_s:g} s: the running "
                             "cluster did not admit " + "; ".join(
                                 f"{n} ({m})" for n, m in sorted(not_yet.items())))
                return EndPass(None)
            return EndPass(JOIN_RETRY_S)

        # roles still waiting for their turn to join are not checked yet
        checked = [(n, r) for n, r in work if r in snap.roles_started.get(n.name, [])]
        checked_keys = {(n.name, r) for n, r in checked}
        unstarted = {n.name for n, r in work if (n.name, r) not in checked_keys}
        health: dict[tuple[str, str], Health] = {}

        # CPU seconds each check used on its pool thread (waiting for an answer uses none)
        cpu: list[float] = []

        def check(item: tuple[NodePlan, str]) -> Health:
            node, role = item
            cpu_began = time.thread_time()
            try:
                return self.roles[role].health(
                    self.role_context(snap.name, snap.plan, infos[node.name], members, infos))
            finally:
                cpu.append(time.thread_time() - cpu_began)

        began = time.monotonic()
        for batch in self._finished(checked, check):
            for (node, role), result, exc, _ in batch:
                health[(node.name, role)] = result or Health(False, _error_text(exc))
        checking_took = time.monotonic() - began
        failures = {n: f"{r}: {h.message}" for (n, r), h in health.items() if h.failed}
        if failures:
            journal.fail(self.store, snap, failures)
            return EndPass(None)

        journal.record_health(self.store, snap, desired, health, ready_roles | set(stage),
                              unstarted)
        waiting = {key: h for key, h in health.items() if not h.ok}
        if not waiting:
            return EndPass(0.0) if unstarted else None  # the next one joins at once
        if self._stage_elapsed_s(snap, stage) > self.bootstrap_timeout_s:
            detail = "; ".join(f"{n}: {r} {h.message}" for (n, r), h in sorted(waiting.items()))
            journal.fail(
                self.store, snap,
                {n: f"{r} not healthy: {h.message}" for (n, r), h in waiting.items()},
                f"timed out after {self.bootstrap_timeout_s:g} s waiting for "
                f"{', '.join(stage)} to become healthy ({detail})")
            return EndPass(None)
        return EndPass(health_requeue_s(len(checked), checking_took, sum(cpu)))

    def _scale_next(self, snap: Snapshot, desired: list[NodePlan],
                    infos: dict[str, NodeInfo]) -> EndPass | None:
        """Give the next node whose size differs from the plan its new CPU and memory.

        Rolling: one node per pass, and only once every role is healthy again (a VM is
        usually restarted to change its size, and a quorum must survive that)."""
        pending = [n for n in desired
                   if (infos[n.name].cpu, infos[n.name].memory_mb) != (n.cpu, n.memory_mb)]
        if not pending:
            return None
        if not self.provider.can_scale_nodes:
            journal.fail(self.store, snap, {}, self.provider.scale_refusal
                         or f"the {self.provider.name} provider cannot scale nodes")
            return EndPass(None)
        node = pending[0]
        size = f"{node.cpu} CPU, {node.memory_mb} MB"

        def scale() -> NodeInfo:
            info = self.provider.scale_node(snap.name, node.name, node.cpu, node.memory_mb)
            if (info.cpu, info.memory_mb) != (node.cpu, node.memory_mb):
                raise NdovuError(f"the {self.provider.name} provider reports {info.cpu} CPU, "
                                 f"{info.memory_mb} MB after scaling to {size}")
            return info

        def scaled(s: Session, row: Node | None, call: ProviderCall, info: NodeInfo,
                   took: float) -> None:
            infos[node.name] = info
            if row is not None:
                # the node may have been restarted for it: its roles start again (a no-op
                # where they still run) and it is SERVICE_READY once healthy
                row.address, row.status, row.roles_started, row.action = (
                    info.address, NodeStatus.VM_READY, [], None)
            journal.event(s, snap.op_id, snap.name, "scale node", "ok", node=node.name,
                          duration_s=took, message=size)

        retry_in, failures = self._provider_round(
            snap, [ProviderCall(node.name, "scale node", scale)], f"scaling to {size}",
            scaled, error_prefix="scale: ")
        outcome = self._end_waiting(snap, retry_in, failures, "scaling",
                                    keep_node_status=True)
        if outcome is not None:
            return outcome
        snap.roles_started[node.name] = []
        done = len(desired) - len(pending) + 1
        journal.set_progress(self.store, snap, int(99 * done / len(desired)),
                             f"{done}/{len(desired)} nodes scaled to {size}")
        return EndPass(0.0)

    # -- stop ----------------------------------------------------------------------------

    def _stop(self, snap: Snapshot) -> float | None:
        """Stop the roles in reverse bootstrap order (each stage done before the next),
        then power every node off. Nodes and their data stay."""
        stages = self._stages(snap)
        if stages is None:
            return None
        observed = {n.name: n for n in self.provider.list_nodes(snap.name)}
        planned = {n.name: n for n in snap.plan.nodes() if n.name in observed}
        members = members_of(list(planned.values()), observed)
        running = [n for n in planned.values() if observed[n.name].powered_on]
        steps = len(stages) + 1
        for done, stage in enumerate(reversed(stages), start=1):
            # roles a stop or power-off already ended are no longer in roles_started
            work = [(n, r) for n in running for r in n.roles
                    if r in stage and r in snap.roles_started.get(n.name, [])]
            failures = self._stop_roles(snap, work, observed, members)
            if failures:
                journal.fail(self.store, snap, failures, keep_node_status=True)
                return None
            journal.set_progress(self.store, snap, int(99 * done / steps),
                                 f"stopped {', '.join(stage)}")

        journal.done_before_restart(self.store, snap, [
            info.name for info in observed.values() if not info.powered_on],
            "power off", NodeStatus.POWERED_OFF)
        def powered_off(s: Session, row: Node | None, call: ProviderCall, _: Any,
                        took: float) -> None:
            if row is not None:
                row.status, row.action, row.roles_started = NodeStatus.POWERED_OFF, None, []
            journal.event(s, snap.op_id, snap.name, "power off", "ok", node=call.node,
                          duration_s=took)

        calls = [ProviderCall(info.name, "power off",
                              lambda info=info: self.provider.power_off(snap.name, info.name))
                 for info in observed.values() if info.powered_on]
        retry_in, failures = self._provider_round(snap, calls, "powering off", powered_off,
                                                  error_prefix="power off: ")
        outcome = self._end_waiting(snap, retry_in, failures, "powering off",
                                    keep_node_status=True)
        if outcome is not None:
            return outcome.requeue_after
        journal.stopped(self.store, snap, observed)
        return None

    def _stop_roles(self, snap: Snapshot, work: list[tuple[NodePlan, str]],
                    observed: dict[str, NodeInfo], members: Members) -> dict[str, str]:
        """Stop these roles in parallel; return the errors by node."""
        failures: dict[str, str] = {}
        if not work:
            return failures

        def stop(item: tuple[NodePlan, str]) -> None:
            node, role = item
            self.roles[role].stop(self.role_context(snap.name, snap.plan, observed[node.name],
                                                    members, observed))

        journal.mark_action(self.store, snap, sorted({n.name for n, _ in work}),
                            f"stopping {', '.join(sorted({r for _, r in work}))}")
        for batch in self._finished(work, stop):
            with self.store.session() as s:
                rows = journal.node_rows(s, snap, [node for (node, _), *_ in batch])
                for (node, role), _, exc, took in batch:
                    if exc is not None:
                        failures[node.name] = f"stop {role}: {_error_text(exc)}"
                        journal.event(s, snap.op_id, snap.name, f"stop {role}", "failed",
                                      node=node.name, duration_s=took,
                                      message=failures[node.name])
                        continue
                    row = rows[node.name]
                    row.roles_started = [r for r in row.roles_started if r != role]
                    row.action = f"stopped {role}"
                    snap.roles_started[node.name] = [
                        r for r in snap.roles_started.get(node.name, []) if r != role]
                    journal.event(s, snap.op_id, snap.name, f"stop {role}", "ok",
                                  node=node.name, duration_s=took)
        return failures

    # -- delete ------------------------------------------------------------------------

    def _forget(self, snap: Snapshot, failures: Mapping[str, str]) -> None:
        """A forced delete gives up on these nodes: the provider drops its record of each
        and says what may be left behind, which an event keeps."""
        for name, error in sorted(failures.items()):
            try:
                left = self.provider.forget_node(snap.name, name)
            except Exception as exc:
                left = f"everything: forgetting it failed too ({_error_text(exc)})"
            with self.store.session() as s:
                row = journal.rows_named(s, snap, [name]).get(name)
                if row is not None:
                    row.status, row.action = NodeStatus.UNKNOWN, None
                journal.event(s, snap.op_id, snap.name, "forget node", "left behind",
                              node=name, message=f"{error}; may be left behind: {left}")
            log.warning("cluster %s: forced delete gave up on node %s (%s); may be left "
                        "behind: %s", snap.name, name, error, left)


    def _release(self, snap: Snapshot) -> None:
        """What the cluster's nodes shared goes with the last of them; a forced delete
        gives up on it and says so."""
        _, exc, took = _timed(lambda: self.provider.release_cluster(snap.name))
        if exc is None:
            return
        if not snap.force:
            raise exc
        with self.store.session() as s:
            journal.event(s, snap.op_id, snap.name, "release cluster", "left behind",
                          duration_s=took, message=f"may be left behind: {_error_text(exc)}")

    def _delete(self, snap: Snapshot) -> float | None:
        try:
            observed = self.provider.list_nodes(snap.name)
        except Exception as exc:
            if not snap.force:
                raise
            self._forget(snap, {name: f"listing the provider's nodes failed: "
                                      f"{_error_text(exc)}" for name in snap.node_groups})
            journal.deleted(self.store, snap, sorted(snap.node_groups))
            return None
        present = {info.name for info in observed}
        journal.done_before_restart(self.store, snap, [
            name for name in snap.node_groups if name not in present],
            "delete node", NodeStatus.NOT_EXIST)
        def deleted(s: Session, row: Node | None, call: ProviderCall, _: Any,
                    took: float) -> None:
            if row is not None:
                row.status, row.action = NodeStatus.NOT_EXIST, None
            journal.event(s, snap.op_id, snap.name, "delete node", "ok", node=call.node,
                          duration_s=took)

        calls = [ProviderCall(info.name, "delete node",
                              lambda info=info: self.provider.delete_node(snap.name, info.name))
                 for info in observed]
        retry_in, failures = self._provider_round(snap, calls, "deleting", deleted)
        if snap.force and failures:
            self._forget(snap, failures)
            failures = {}
        outcome = self._end_waiting(snap, retry_in, failures, "deleting")
        if outcome is not None:
            return outcome.requeue_after
        self._release(snap)
        # every node it had: those deleted by earlier passes still have their rows
        journal.deleted(self.store, snap, sorted(set(snap.node_groups)
                                                 | {n.name for n in observed}))
        return None
