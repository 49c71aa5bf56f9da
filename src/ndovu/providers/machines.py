"""The machines provider: nodes on existing hosts the operator registered (Juju's manual
cloud, Ansible's inventory), one node per free machine, reached over SSH.

Which node is on which machine lives in an inventory (the server's store: see
``ndovu.store.machines``); this module knows it only through ``MachineInventory``, so the
provider never imports the store. A claim is recorded before any remote work, so a pass
interrupted by a crash finds the node on its machine again instead of taking a second one.

A node's files live in ``<node_root>/<node name>`` on its machine. The machine is the
operator's: powering a node off stops ndovu's services on it, never the host, and deleting
a node removes its folder and hands the machine back to the free ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from ndovu.errors import ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.transports.base import HostKeyError, Transport, TransportError
from ndovu.transports.ssh import SshConnections, SshTarget, SshTransport

# written into the node's root at provisioning: whose folder this is
NODE_MARKER = ".ndovu-node.json"
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Machine:
    name: str
    address: str
    port: int
    user: str
    private_key: str = field(repr=False)
    host_key: str | None
    labels: dict[str, str]
    # the node on it (both None: the machine is free), and its group and index
    cluster: str | None
    node: str | None
    powered_on: bool
    group: str | None = None
    index: int | None = None

    def describe(self) -> str:
        """``name (address)``, for messages."""
        return f"machine {self.name} ({self.address})"


class MachineInventory(Protocol):
    def claim(self, cluster: str, node: str, group: str, index: int) -> Machine:
        """The machine ``node`` is on already (idempotent), else a free one, assigned to it
        atomically; ProviderError (not retryable) saying how many machines exist and are
        free, and what to do, when none is free."""

    def assigned(self, cluster: str) -> list[Machine]:
        """The machines carrying the cluster's nodes."""

    def release(self, cluster: str, node: str) -> None:
        """The node's machine is free again (nothing happens when it has none);
        ProviderError when the node is on a machine of another cluster."""

    def set_power(self, cluster: str, node: str, powered_on: bool) -> Machine: ...

    def record_host_key(self, machine: str, host_key: str) -> None:
        """Pin the machine's SSH host key; only when none is recorded yet."""


def _info(machine: Machine) -> NodeInfo:
    assert machine.cluster is not None and machine.node is not None
    return NodeInfo(cluster=machine.cluster, name=machine.node, group=machine.group or "",
                    index=machine.index if machine.index is not None else 0,
                    provider_id=machine.name, address=machine.address,
                    powered_on=machine.powered_on)


@contextmanager
def _on(machine: Machine, *, retryable: bool) -> Iterator[None]:
    """Errors of the remote work, their messages naming the machine (name and address).

    A TransportError keeps its class and whether it is retryable; a command that ran and
    failed (OSError from the transport: the node's folder could not be made or removed)
    becomes a ProviderError, ``retryable`` as the caller says."""
    try:
        yield
    except HostKeyError as exc:
        raise HostKeyError(f"{machine.describe()}: {exc.message}", node=exc.node,
                           hint=exc.hint) from exc
    except TransportError as exc:
        raise TransportError(f"{machine.describe()}: {exc.message}", node=exc.node,
                             hint=exc.hint, retryable=exc.retryable) from exc
    except OSError as exc:
        raise ProviderError(f"{machine.describe()}: {exc}", node=machine.node,
                            retryable=retryable) from exc


class MachinesProvider:
    """One node per registered machine; SSH with the machine's key and pinned host key."""

    name = "machines"
    runs_software = True
    can_scale_nodes = False
    scale_refusal = (
        "the machines provider runs each node on a host the operator registered; ndovu "
        "cannot change a machine's CPUs or memory. To add capacity, resize the node group "
        "instead (it needs a free machine per new node: `ndovu machine add` registers one)")
    # a node keeps its machine's own address: networks as address pools do not apply
    address_space = None
    static_network_refusal = (
        "the machines provider keeps each machine's own address, so it cannot give nodes "
        "a network's addresses")
    password_refusal = (
        "ndovu does not set node passwords on the machines provider: it logs in to each "
        "machine with the key its operator registered, and leaves the machine's accounts "
        "alone")

    def __init__(self, inventory: MachineInventory, connections: SshConnections, *,
                 node_root: str = "/var/lib/ndovu/nodes",
                 software_dir: str = "/var/lib/ndovu/software", max_parallel: int = 16,
                 reach_timeout_s: float = 30):
        for option, value, example in (("node_root", node_root, "/var/lib/ndovu/nodes"),
                                       ("software_dir", software_dir,
                                        "/var/lib/ndovu/software")):
            if not str(value).startswith("/") or str(value).rstrip("/") == "":
                raise ProviderError(f"{option} {value!r} must be an absolute folder other "
                                    "than /", hint=f"e.g. {example}")
        if max_parallel < 1:
            raise ProviderError(f"max_parallel must be at least 1, not {max_parallel}")
        if reach_timeout_s <= 0:
            raise ProviderError(f"reach_timeout_s must be positive, not {reach_timeout_s}")
        self.inventory = inventory
        self.connections = connections
        self.node_root = str(node_root).rstrip("/")
        self.software_dir = str(software_dir).rstrip("/")
        self.max_parallel = max_parallel
        self.reach_timeout_s = float(reach_timeout_s)

    # -- helpers ---------------------------------------------------------------------

    def _root(self, node: str) -> str:
        if "/" in node or node in ("", ".", ".."):
            raise ProviderError(f"node name {node!r} cannot be used as a folder name",
                                node=node)
        return f"{self.node_root}/{node}"

    def _machine(self, cluster: str, name: str) -> Machine:
        found = next((m for m in self.inventory.assigned(cluster) if m.node == name), None)
        if found is None:
            raise ProviderError(f"node {name} of cluster {cluster} is on no machine",
                                node=name)
        return found

    def _transport_to(self, machine: Machine) -> SshTransport:
        assert machine.node is not None
        target = SshTarget(node=machine.node, host=machine.address, port=machine.port,
                           user=machine.user, private_key=machine.private_key,
                           host_key=machine.host_key, root=self._root(machine.node),
                           software_dir=self.software_dir)
        return SshTransport(target, self.connections,
                            on_host_key=lambda key: self.inventory.record_host_key(
                                machine.name, key))

    def _prepare(self, machine: Machine) -> None:
        """Wait for the machine to answer and make the node's root (a marker file there:
        writing it makes the folders)."""
        transport = self._transport_to(machine)
        with _on(machine, retryable=False):
            transport.wait_reachable(self.reach_timeout_s)
            transport.write_file(NODE_MARKER, json.dumps(
                {"cluster": machine.cluster, "node": machine.node, "machine": machine.name},
                sort_keys=True) + "\n", mode=0o644)

    # -- Provider --------------------------------------------------------------------

    def ensure_node(self, request: NodeRequest) -> NodeInfo:
        if request.address_pool:
            raise ProviderError(
                f"node {request.name}: the machines provider cannot give nodes addresses "
                "from a network's ipBlocks: each node keeps the address of the machine it "
                "runs on", node=request.name,
                hint="create the cluster without a network (or on a DHCP network)")
        # recorded first: a crash from here on finds the node on this machine again
        machine = self.inventory.claim(request.cluster, request.name, request.group,
                                       request.index)
        if machine.powered_on:
            return _info(machine)
        self._prepare(machine)
        return _info(self.inventory.set_power(request.cluster, request.name, True))

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        nodes = [_info(m) for m in self.inventory.assigned(cluster)]
        return sorted(nodes, key=lambda n: (n.group, n.index, n.name))

    def power_on(self, cluster: str, name: str) -> NodeInfo:
        # the machine is on already: wait until it answers, and make sure the root exists
        # (a claim whose provisioning was interrupted is finished here)
        self._prepare(self._machine(cluster, name))
        return _info(self.inventory.set_power(cluster, name, True))

    def power_off(self, cluster: str, name: str) -> NodeInfo:
        """Stop every ndovu service of the node; the machine stays on (it is the
        operator's)."""
        machine = self._machine(cluster, name)
        transport = self._transport_to(machine)
        with _on(machine, retryable=True):
            for service in transport.running_services():
                transport.stop_service(service, timeout=STOP_TIMEOUT_S)
        return _info(self.inventory.set_power(cluster, name, False))

    def scale_node(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        raise ProviderError(self.scale_refusal, node=name)

    def delete_node(self, cluster: str, name: str) -> None:
        machine = next((m for m in self.inventory.assigned(cluster) if m.node == name), None)
        if machine is None:
            # on no machine of this cluster: nothing to do (release refuses a node of
            # another cluster, as the local provider does)
            self.inventory.release(cluster, name)
            return
        transport = self._transport_to(machine)
        with _on(machine, retryable=True):
            transport.remove_node(timeout=self.reach_timeout_s)
        self.inventory.release(cluster, name)

    def forget_node(self, cluster: str, name: str) -> str:
        machine = next((m for m in self.inventory.assigned(cluster) if m.node == name), None)
        self.inventory.release(cluster, name)
        if machine is None:
            return "nothing: no machine carried it"
        return (f"its folder and processes on machine {machine.name} ({machine.address}), "
                "which is free for new nodes again")

    def release_cluster(self, cluster: str) -> None:
        pass  # its machines are free again with their nodes' deletion

    def transport(self, node: NodeInfo) -> Transport:
        return self._transport_to(self._machine(node.cluster, node.name))
