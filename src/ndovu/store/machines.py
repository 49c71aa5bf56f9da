"""Registered machines in the store: the machines provider's inventory, and the counting
and bookkeeping the API needs.

``StoreInventory`` implements ``ndovu.providers.machines.MachineInventory`` with short
transactions. It builds the provider's ``Machine`` records through the ``record`` callable
the composition root hands it, so the store never imports a provider (nor does the API,
which imports this module).

A claim assigns a free machine to a node atomically: ``SELECT … FOR UPDATE SKIP LOCKED``
on PostgreSQL and MariaDB, so concurrent claims never wait on each other and never share a
machine; SQLite lets one writer in at a time, and the claim takes its write lock first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import false, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ndovu.errors import ConflictError, NotFoundError, ProviderError, SpecError
from ndovu.statuses import Desired
from ndovu.store.db import Store
from ndovu.store.models import Cluster, Machine, Node

M = TypeVar("M")
# a claim that lost a race (a unique node name, SQLite busy, a MariaDB deadlock) is tried
# again this often before giving up with a retryable error
CLAIM_ATTEMPTS = 5
ADD_HINT = "register one with `ndovu machine add ADDRESS --key-file F` (POST /v1/machines)"


def record_fields(row: Machine) -> dict[str, Any]:
    """The row as the keyword arguments of the provider's ``Machine``."""
    return {"name": row.name, "address": row.address, "port": row.port, "user": row.user,
            "private_key": row.private_key, "host_key": row.host_key,
            "labels": dict(row.labels or {}), "cluster": row.cluster_name,
            "node": row.node_name, "powered_on": bool(row.powered_on),
            "group": row.node_group, "index": row.node_index}


def _take_write_lock(s: Session) -> None:
    """SQLite: begin as the writer (a write that changes nothing), so what is read next
    cannot change before this transaction ends. PostgreSQL and MariaDB lock rows instead."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(update(Machine).where(false()).values(port=Machine.port))


def _counts(s: Session) -> tuple[int, int]:
    """(machines registered, machines free)."""
    total = s.scalar(select(func.count(Machine.id))) or 0
    free = s.scalar(select(func.count(Machine.id)).where(Machine.node_name.is_(None))) or 0
    return int(total), int(free)


class StoreInventory(Generic[M]):
    """The machines of the server's store; ``record(**record_fields(row))`` builds what
    the provider gets."""

    def __init__(self, store: Store, record: Callable[..., M]):
        self.store = store
        self.record = record

    def _make(self, row: Machine) -> M:
        return self.record(**record_fields(row))

    def claim(self, cluster: str, node: str, group: str, index: int) -> M:
        last: Exception | None = None
        for _ in range(CLAIM_ATTEMPTS):
            try:
                return self._claim_once(cluster, node, group, index)
            except (IntegrityError, OperationalError) as exc:
                last = exc  # lost a race: the next attempt sees the winner's row
        raise ProviderError(f"could not assign a machine to node {node} of cluster "
                            f"{cluster}: the database stayed busy ({type(last).__name__})",
                            node=node, retryable=True)

    def _claim_once(self, cluster: str, node: str, group: str, index: int) -> M:
        with self.store.session() as s:
            _take_write_lock(s)
            row = s.scalars(select(Machine).where(Machine.node_name == node)).first()
            if row is not None:
                if row.cluster_name != cluster:
                    raise ProviderError(
                        f"node {node} is on machine {row.name} for cluster "
                        f"{row.cluster_name}, not {cluster}", node=node,
                        hint="node names must be unique across clusters")
                return self._make(row)
            row = s.scalars(select(Machine).where(Machine.node_name.is_(None))
                            .order_by(Machine.name).limit(1)
                            .with_for_update(skip_locked=True)).first()
            if row is None:
                total, free = _counts(s)
                if free:  # free ones exist, locked by another claim or an API check
                    raise ProviderError(
                        f"the {free} free machine(s) are being assigned to other nodes "
                        f"right now; node {node} of cluster {cluster} waits for its turn",
                        node=node, retryable=True)
                raise ProviderError(
                    f"no free machine for node {node} of cluster {cluster}: "
                    f"{_how_many(total)} registered and every one carries a node",
                    node=node, hint=f"{ADD_HINT}, or delete a cluster to free its machines")
            row.cluster_name, row.node_name = cluster, node
            row.node_group, row.node_index = group, index
            # provisioned when the node's root is made on it (the provider says so)
            row.powered_on = False
            s.flush()
            return self._make(row)

    def assigned(self, cluster: str) -> list[M]:
        with self.store.session() as s:
            rows = s.scalars(select(Machine).where(Machine.cluster_name == cluster,
                                                   Machine.node_name.is_not(None))
                             .order_by(Machine.node_group, Machine.node_index))
            return [self._make(r) for r in rows]

    def release(self, cluster: str, node: str) -> None:
        with self.store.session() as s:
            row = s.scalars(select(Machine).where(Machine.node_name == node)
                            .with_for_update()).first()
            if row is None:
                return
            if row.cluster_name != cluster:
                raise ProviderError(f"node {node} belongs to cluster {row.cluster_name}, "
                                    f"not {cluster}: not releasing machine {row.name}",
                                    node=node)
            row.cluster_name = row.node_name = row.node_group = None
            row.node_index = None
            row.powered_on = False

    def set_power(self, cluster: str, node: str, powered_on: bool) -> M:
        with self.store.session() as s:
            row = s.scalars(select(Machine).where(Machine.node_name == node,
                                                  Machine.cluster_name == cluster)
                            .with_for_update()).first()
            if row is None:
                raise ProviderError(f"node {node} of cluster {cluster} is on no machine",
                                    node=node)
            row.powered_on = powered_on
            s.flush()
            return self._make(row)

    def record_host_key(self, machine: str, host_key: str) -> None:
        with self.store.session() as s:
            s.execute(update(Machine)
                      .where(Machine.name == machine, Machine.host_key.is_(None))
                      .values(host_key=host_key)
                      .execution_options(synchronize_session=False))


def _how_many(total: int) -> str:
    return f"{total} machine{'' if total == 1 else 's'}"


# -- counting, for the API's up-front refusals -----------------------------------------


def free_machines(s: Session) -> int:
    """How many registered machines carry no node."""
    return _counts(s)[1]


def waiting_nodes(s: Session) -> int:
    """Nodes of clusters not being deleted that have no machine yet: each will take one."""
    placed = select(Machine.node_name).where(Machine.node_name.is_not(None))
    return int(s.scalar(
        select(func.count(Node.id)).join(Cluster, Node.cluster_id == Cluster.id)
        .where(Cluster.desired != Desired.ABSENT, Node.name.not_in(placed))) or 0)


def check_free_machines(s: Session, *, cluster: str, new_nodes: int,
                        field: str | None = None) -> None:
    """Refuse (422) ``new_nodes`` more nodes for ``cluster`` when fewer machines are free
    than they and the nodes already waiting for one need. Free machines are locked first
    (SQLite: the write lock), so two requests counting at once are decided in turn."""
    if new_nodes <= 0:
        return
    s.execute(update(Machine).where(Machine.node_name.is_(None))
              .values(powered_on=False).execution_options(synchronize_session=False))
    total, free = _counts(s)
    waiting = waiting_nodes(s)
    left = free - waiting
    if left >= new_nodes:
        return
    promised = (f"; {waiting} of the free ones are promised to nodes not yet placed"
                if waiting else "")
    raise SpecError(
        f"cluster '{cluster}' needs {new_nodes} more machine{'' if new_nodes == 1 else 's'}"
        f", but {max(left, 0)} of the {_how_many(total)} registered "
        f"{'is' if max(left, 0) == 1 else 'are'} free{promised}", field=field,
        hint=f"{ADD_HINT.replace('register one', 'register more')}, delete clusters, or ask "
             "for fewer nodes")


# -- the API's bookkeeping -------------------------------------------------------------


def list_machines(s: Session) -> list[Machine]:
    return list(s.scalars(select(Machine).order_by(Machine.name)))


def get_machine(s: Session, name: str) -> Machine:
    row = s.scalars(select(Machine).where(Machine.name == name)).first()
    if row is None:
        raise NotFoundError(f"no machine named {name!r}", field="name",
                            hint="GET /v1/machines (or `ndovu machine list`) lists them")
    return row


def add_machine(s: Session, *, name: str, address: str, port: int, user: str,
                private_key: str, labels: dict[str, str]) -> Machine:
    """A new free machine; ConflictError when its name or address is registered."""
    for column, value, what in ((Machine.name, name, "name"),
                                (Machine.address, address, "address")):
        other = s.scalars(select(Machine.name).where(column == value)).first()
        if other is not None:
            raise ConflictError(
                f"machine {other!r} is registered with the {what} {value!r} already",
                field=what, hint="remove it first (`ndovu machine remove`), or use another "
                                 f"{what}")
    row = Machine(name=name, address=address, port=port, user=user,
                  private_key=private_key, host_key=None, labels=dict(labels),
                  powered_on=False)
    s.add(row)
    s.flush()
    return row


def delete_machine(s: Session, name: str) -> None:
    """Refused (409) while a node is on the machine."""
    row = get_machine(s, name)
    if row.node_name is not None:
        raise ConflictError(
            f"machine {name!r} carries node {row.node_name} of cluster "
            f"{row.cluster_name!r}; it cannot be removed while a node is on it",
            field="name", hint=f"delete cluster {row.cluster_name!r} (or resize it down) "
                               "first")
    s.delete(row)
