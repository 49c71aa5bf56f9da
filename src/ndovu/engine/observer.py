"""Watching clusters at rest: what the provider and each role's health probe say now.

A cluster that is not being changed (no active operation, meant to run, RUNNING or
already found unwell) is looked at every interval: the provider's view of each node
(there, powered on) and the health probe of every role it runs. The verdicts use
BDE's statuses — a node SERVICE_READY, SERVICE_UNHEALTHY (its probe fails), DISCONNECTED
(its machine cannot be reached), POWERED_OFF or NOT_EXIST; the cluster RUNNING,
SERVICE_WARNING (some nodes unwell) or SERVICE_STOPPED (none serves) — with the probe's
words and since when. Only a change is written, with an event; an unchanged look writes
nothing.

A role whose process has exited is no longer counted as started on its node, so the
next ``start`` starts it again (as the member it was). The write re-checks, in its own
transaction, that no operation began meanwhile: an operation's statuses always win.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from ndovu.engine import journal
from ndovu.engine.reconciler import Members, members_of
from ndovu.errors import NdovuError
from ndovu.providers.base import NodeInfo, Provider
from ndovu.roles.base import Health, Role, RoleContext
from ndovu.spec.healing import HealingPolicy
from ndovu.spec.model import ClusterPlan, NodePlan
from ndovu.statuses import ClusterStatus, Desired, NodeStatus, OperationType, TaskStatus
from ndovu.store.db import Store
from ndovu.store.models import Cluster, Event, Node, Operation, as_utc
from ndovu.transports.base import TransportError

log = logging.getLogger("ndovu.engine")

ACTIVE_TASK_STATUSES = (TaskStatus.STARTING, TaskStatus.STARTED)

# the cluster statuses a look may change: a cluster at rest that was meant to run
WATCHED = frozenset({ClusterStatus.RUNNING, ClusterStatus.SERVICE_WARNING,
                     ClusterStatus.SERVICE_STOPPED})
_SERVING = frozenset({NodeStatus.SERVICE_READY, NodeStatus.VM_READY})


@dataclass(frozen=True)
class Verdict:
    """A node's status as seen now, the words that say why, and the roles whose process
    has exited (no longer started)."""

    status: NodeStatus
    message: str | None = None
    exited: tuple[str, ...] = ()


def node_verdict(info: NodeInfo | None, provider: str,
                 health: Mapping[str, Health | BaseException]) -> Verdict:
    """What one node's look says: ``info`` is the provider's view (None: it has none),
    ``health`` each started role's probe result or the error that stopped the probe."""
    if info is None:
        return Verdict(NodeStatus.NOT_EXIST,
                       f"the {provider} provider no longer has this node's machine")
    if not info.powered_on:
        return Verdict(NodeStatus.POWERED_OFF, "powered off outside ndovu")
    unreachable = [f"{role}: {_text(e)}" for role, e in sorted(health.items())
                   if isinstance(e, TransportError)]
    if unreachable:
        return Verdict(NodeStatus.DISCONNECTED, "cannot reach the node: " + "; ".join(unreachable))
    unwell = {role: h for role, h in sorted(health.items())
              if not (isinstance(h, Health) and h.ok)}
    if unwell:
        return Verdict(NodeStatus.SERVICE_UNHEALTHY,
                       "; ".join(f"{role} not serving: {_text(h)}" for role, h in unwell.items()),
                       tuple(role for role, h in unwell.items()
                             if isinstance(h, Health) and h.failed))
    return Verdict(NodeStatus.SERVICE_READY if health else NodeStatus.VM_READY)


def cluster_verdict(nodes: Mapping[str, Verdict]) -> tuple[ClusterStatus, str | None]:
    """RUNNING when every node serves, SERVICE_STOPPED when none does, else
    SERVICE_WARNING; with the words that name the unwell nodes."""
    unwell = {name: v for name, v in sorted(nodes.items()) if v.status not in _SERVING}
    if not unwell:
        return ClusterStatus.RUNNING, None
    named = "; ".join(f"{name} {v.status}" for name, v in list(unwell.items())[:5])
    more = f" and {len(unwell) - 5} more" if len(unwell) > 5 else ""
    if len(unwell) == len(nodes):
        return ClusterStatus.SERVICE_STOPPED, f"no node serves: {named}{more}"
    return (ClusterStatus.SERVICE_WARNING,
            f"{len(unwell)} of {len(nodes)} nodes unwell: {named}{more}")


def _text(result: Health | BaseException) -> str:
    if isinstance(result, Health):
        return result.message
    if isinstance(result, NdovuError):
        return result.message
    return f"{type(result).__name__}: {result}"


# Reconciler.role_context: (cluster, plan, node, members, every node) -> RoleContext
ContextFor = Callable[[str, ClusterPlan, NodeInfo, Members, Mapping[str, NodeInfo]],
                      RoleContext]


@dataclass(frozen=True)
class _AtRest:
    cluster_id: int
    name: str
    status: str
    error_message: str | None
    plan: ClusterPlan
    # node name -> (its status, the roles counted as started on it), as read
    nodes: Mapping[str, tuple[str, tuple[str, ...]]]

    def unchanged(self, verdicts: Mapping[str, Verdict], status: str,
                  message: str | None) -> bool:
        """Whether the look found what the store already says (then it writes nothing)."""
        return (status == self.status and message == self.error_message and all(
            v.status == self.nodes[name][0]
            and not set(v.exited).intersection(self.nodes[name][1])
            for name, v in verdicts.items()))


class Observer:
    """Looks at one cluster at rest at a time (the runner schedules the looks)."""

    def __init__(self, store: Store, provider: Provider, roles: Mapping[str, Role],
                 node_pool: Executor, context_for: ContextFor):
        self.store = store
        self.provider = provider
        self.roles = roles
        self.node_pool = node_pool
        self.context_for = context_for

    def observe(self, cluster_id: int) -> bool:
        """Look at the cluster now; whether it was at rest (looked at)."""
        rest = self._at_rest(cluster_id)
        if rest is None:
            return False
        infos = {info.name: info for info in self.provider.list_nodes(rest.name)}
        planned = [n for n in rest.plan.nodes() if n.name in rest.nodes]
        health = self._probe(rest, planned, infos)
        verdicts = {n.name: node_verdict(infos.get(n.name), self.provider.name,
                                         health.get(n.name, {})) for n in planned}
        status, message = cluster_verdict(verdicts)
        policy = rest.plan.healing
        replaceable = {n.name for n in planned if all(
            getattr(self.roles[role], "replaceable", False) for role in n.roles)}
        repairable = sorted(name for name, v in verdicts.items()
                            if repairable_by_start(v, name in replaceable))
        refusal = heal_refusal(policy, verdicts) if repairable else None
        if refusal:
            message = f"{message}; {refusal}"
        self._record(rest, verdicts, status, message)
        if policy.enabled and repairable and not refusal:
            self._heal(rest, repairable)
        return True

    def _at_rest(self, cluster_id: int) -> _AtRest | None:
        """The cluster as the store has it, if it is at rest: three narrow reads (a look
        is made every interval for every cluster, so its reads are kept cheap)."""
        with self.store.session() as s:
            cluster = s.execute(
                select(Cluster.name, Cluster.status, Cluster.error_message, Cluster.plan)
                .where(Cluster.id == cluster_id, Cluster.desired == Desired.RUNNING,
                       Cluster.status.in_(WATCHED))).first()
            if cluster is None or s.scalar(select(Operation.id).where(
                    Operation.cluster_id == cluster_id,
                    Operation.status.in_(ACTIVE_TASK_STATUSES)).limit(1)) is not None:
                return None
            nodes = s.execute(select(Node.name, Node.status, Node.roles_started)
                              .where(Node.cluster_id == cluster_id)).all()
        return _AtRest(cluster_id, cluster.name, cluster.status, cluster.error_message,
                       ClusterPlan.from_dict(cluster.plan),
                       {n.name: (n.status, tuple(n.roles_started or ())) for n in nodes})

    def _probe(self, rest: _AtRest, planned: list[NodePlan], infos: Mapping[str, NodeInfo]
               ) -> dict[str, dict[str, Health | BaseException]]:
        """The probe of every role of every node that is there and on, in parallel (a
        role whose process exited is probed too: it says so again)."""
        present = [node for node in planned if node.name in infos]
        members = members_of(present, infos)
        work = [(node.name, role) for node in present if infos[node.name].powered_on
                for role in node.roles]

        def probe(item: tuple[str, str]) -> Health | BaseException:
            node, role = item
            try:
                return self.roles[role].health(
                    self.context_for(rest.name, rest.plan, infos[node], members, infos))
            except Exception as exc:  # the probe's failure is the verdict, never lost
                return exc

        results: dict[str, dict[str, Health | BaseException]] = {}
        for item, result in zip(work, self.node_pool.map(probe, work), strict=True):
            results.setdefault(item[0], {})[item[1]] = result
        return results

    def _record(self, rest: _AtRest, verdicts: Mapping[str, Verdict], status: ClusterStatus,
                message: str | None) -> None:
        if rest.unchanged(verdicts, status, message):
            return  # the usual look: nothing new, nothing written
        now = datetime.now(UTC)
        with self.store.session() as s:
            cluster = s.get(Cluster, rest.cluster_id)
            # an operation that began while we looked owns the statuses now
            if (cluster is None or cluster.status != rest.status
                    or cluster.desired != Desired.RUNNING
                    or journal.active_operation(s, rest.cluster_id) is not None):
                return
            for row in cluster.nodes:
                verdict = verdicts.get(row.name)
                if verdict is None:
                    continue
                if verdict.exited:
                    row.roles_started = [r for r in row.roles_started or []
                                         if r not in verdict.exited]
                if verdict.status == NodeStatus.NOT_EXIST:
                    # its machine is gone, and all it ran with it: a node made again in
                    # its place joins the cluster anew (etcd re-adds its member)
                    row.roles_started, row.roles_ever_started = [], []
                if verdict.status == row.status:
                    continue  # unchanged: nothing written, the first words and time stay
                text = (f"{verdict.message} (since {now:%H:%M:%S} UTC)"
                        if verdict.message else None)
                journal.event(s, None, cluster.name, "observe", _outcome(verdict.status),
                              node=row.name, message=f"{row.status} -> {verdict.status}"
                              + (f": {verdict.message}" if verdict.message else ""))
                log.info("cluster %s: node %s is %s%s", cluster.name, row.name,
                         verdict.status, f" ({verdict.message})" if verdict.message else "")
                row.status, row.error_message = verdict.status, text
            if message != cluster.error_message:  # which nodes, how many
                cluster.error_message = message
            if status != cluster.status:
                journal.event(s, None, cluster.name, "observe", _outcome(status),
                              message=f"{cluster.status} -> {status}"
                              + (f": {message}" if message else ""))
                log.info("cluster %s is %s", cluster.name, status)
                cluster.status = status


    def _heal(self, rest: _AtRest, repairable: list[str]) -> None:
        """Begin a HEAL operation for the nodes unwell for longer than the policy's
        ``unhealthyAfter`` (since the look that first saw them so), in the transaction
        that checks the cluster is still at rest: a user's change in between wins, and
        while the heal runs the usual 409 rules keep users' changes out."""
        policy = rest.plan.healing
        now = datetime.now(UTC)
        with self.store.session() as s:
            since = dict(s.execute(
                select(Event.node, func.max(Event.at))
                .where(Event.cluster == rest.name, Event.step == "observe",
                       Event.node.in_(repairable)).group_by(Event.node)).all())
            due = [name for name in repairable if since.get(name) is not None
                   and (now - as_utc(since[name])).total_seconds() >= policy.unhealthy_after_s]
            if not due:
                return
            cluster = s.get(Cluster, rest.cluster_id)
            if (cluster is None or cluster.desired != Desired.RUNNING
                    or cluster.status not in WATCHED
                    or journal.active_operation(s, rest.cluster_id) is not None):
                return
            op = Operation(cluster_id=cluster.id, target=cluster.name,
                           type=OperationType.HEAL, status=TaskStatus.STARTING, progress=0,
                           succeed_nodes=[], fail_nodes=[],
                           progress_message="waiting for the engine")
            s.add(op)
            s.flush()
            cluster.status = ClusterStatus.STARTING
            text = (f"repairing {', '.join(due)} (services started again, nodes powered "
                    f"on or made again), unwell for more than {policy.unhealthy_after_s} s "
                    "(healing policy)")
            journal.event(s, op, cluster.name, "heal", "started", message=text)
        log.info("cluster %s: heal: %s", rest.name, text)


def repairable_by_start(verdict: Verdict, replaceable: bool) -> bool:
    """What a start repairs: a node powered off outside ndovu, one whose service exited,
    and one whose machine is gone when all its roles are ``replaceable`` (a fresh node
    is made and rejoins). One whose service runs but does not serve, or that cannot be
    reached, is left to its operator."""
    return (verdict.status == NodeStatus.POWERED_OFF
            or (verdict.status == NodeStatus.SERVICE_UNHEALTHY and bool(verdict.exited))
            or (verdict.status == NodeStatus.NOT_EXIST and replaceable))


def heal_refusal(policy: HealingPolicy, verdicts: Mapping[str, Verdict]) -> str | None:
    """Why nothing is repaired although the policy would: more nodes are unwell than
    ``maxUnhealthy`` allows (something larger is wrong; restarts could make it worse)."""
    if not policy.enabled:
        return None
    unwell = sum(1 for v in verdicts.values() if v.status not in _SERVING)
    allowed = policy.max_unhealthy_nodes(len(verdicts))
    if unwell <= allowed:
        return None
    return (f"{unwell} unwell is more than healing's maxUnhealthy ({policy.max_unhealthy}, "
            f"{allowed} of {len(verdicts)}): ndovu repairs nothing, as that could make it "
            "worse")


def _outcome(status: str) -> str:
    return "ok" if status in (*_SERVING, ClusterStatus.RUNNING) else "unwell"
