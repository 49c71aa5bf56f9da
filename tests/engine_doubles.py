"""In-memory stand-ins at the engine's edges: a provider, a transport and scripted roles.

They keep real state (nodes, files, services) in memory and are thread-safe, so the real
engine, store and API run against them exactly as against the local provider, minus the
processes. Tests that use them say so in their names (``..._in_memory``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ndovu import addresses
from ndovu.errors import NodeBootstrapError, NodePending, ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.roles.base import Health, Member, RoleContext, Setting
from ndovu.transports.base import CommandResult


class MemoryTransport:
    def __init__(self, address: str):
        self.address = address
        self.software_dir = "/memory-software"
        self.files: dict[str, str] = {}
        self.services: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def path(self, relative: str) -> str:
        return f"/memory/{relative}"

    def write_file(self, relative: str, content: str, mode: int = 0o644) -> None:
        with self._lock:
            self.files[relative] = content

    def read_file(self, relative: str) -> str | None:
        return self.files.get(relative)

    def run(self, argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None) -> CommandResult:
        return CommandResult(0, "", "")

    def start_service(self, name: str, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self.services.setdefault(name, list(argv))

    def stop_service(self, name: str, *, timeout: float = 20.0) -> None:
        with self._lock:
            self.services.pop(name, None)

    def service_running(self, name: str) -> bool:
        return name in self.services

    def running_services(self) -> list[str]:
        return sorted(self.services)

    def service_log_tail(self, name: str, lines: int = 20) -> str:
        return ""


@dataclass
class MemoryProvider:
    """Nodes in a dict; ``delay_s`` per call; ``fail`` maps node names to error texts
    (their creation fails), ``refuse_delete`` too (their deletion fails, retryably).
    While ``gate`` is clear, node creation and deletion wait for it: a test holds an operation
    in progress for as long as it needs, whatever the machine's speed.

    It reports each node's size and can change it (``can_scale_nodes``), unless made
    with ``can_scale_nodes=False``; a powered-off node runs nothing and keeps its files."""

    max_parallel: int = 4
    delay_s: float = 0.0
    fail: dict[str, str] = field(default_factory=dict)
    refuse_delete: dict[str, str] = field(default_factory=dict)
    name: str = "memory"
    runs_software: bool = True
    can_scale_nodes: bool = True
    address_space: str | None = None
    password_refusal: str | None = "the memory provider has no node logins"
    static_network_refusal: str | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    # how many times a node's creation answers "pending" (booting) before it is done
    pending: dict[str, int] = field(default_factory=dict)

    @property
    def scale_refusal(self) -> str | None:
        return None if self.can_scale_nodes else (
            "the memory provider was made unable to scale nodes for this test")

    def __post_init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.transports: dict[str, MemoryTransport] = {}
        self.calls: list[tuple[str, str]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._next = 1
        self._lock = threading.Lock()
        self.gate.set()

    def _enter(self, verb: str, name: str) -> None:
        with self._lock:
            self.calls.append((verb, name))
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def ensure_node(self, request: NodeRequest) -> NodeInfo:
        self._enter("ensure", request.name)
        try:
            self.gate.wait(timeout=60)
            time.sleep(self.delay_s)
            if request.name in self.fail:
                raise ProviderError(self.fail[request.name], node=request.name)
            with self._lock:
                if self.pending.get(request.name, 0) > 0:
                    self.pending[request.name] -= 1
                    raise NodePending(f"{request.name} is booting", node=request.name,
                                      check_after_s=0.05)
            with self._lock:
                if request.name not in self.nodes:
                    address = self._address(request)
                    self.nodes[request.name] = NodeInfo(
                        request.cluster, request.name, request.group, request.index,
                        f"mem-{request.name}", address, True,
                        cpu=request.cpu if self.can_scale_nodes else None,
                        memory_mb=request.memory_mb if self.can_scale_nodes else None)
                    self.transports[request.name] = MemoryTransport(address)
                return self.nodes[request.name]
        finally:
            self._leave()

    def _address(self, request: NodeRequest) -> str:
        """The next free address of the request's pool, else of 10.0.0.0/8 (lock held)."""
        held = {n.address for n in self.nodes.values()}
        if request.address_pool:
            for address in addresses.addresses(request.address_pool):
                if str(address) not in held:
                    return str(address)
            raise ProviderError("no free address left in the cluster's network",
                                node=request.name)
        address = f"10.0.0.{self._next}"
        self._next += 1
        return address

    def forget_node(self, cluster: str, name: str) -> str:
        with self._lock:
            self.nodes.pop(name, None)
        return f"memory node {name}"

    def release_cluster(self, cluster: str) -> None:
        with self._lock:
            self.calls.append(("release", cluster))

    def delete_node(self, cluster: str, name: str) -> None:
        self._enter("delete", name)
        try:
            self.gate.wait(timeout=60)
            time.sleep(self.delay_s)
            if name in self.refuse_delete:
                raise ProviderError(self.refuse_delete[name], node=name, retryable=True)
            with self._lock:
                self.nodes.pop(name, None)
                self.transports.pop(name, None)
        finally:
            self._leave()

    def power_on(self, cluster: str, name: str) -> NodeInfo:
        with self._lock:
            info = self.nodes[name]
            self.nodes[name] = NodeInfo(**{**info.__dict__, "powered_on": True})
            return self.nodes[name]

    def power_off(self, cluster: str, name: str) -> NodeInfo:
        self._enter("power_off", name)
        try:
            with self._lock:
                info = self.nodes[name]
                self.nodes[name] = NodeInfo(**{**info.__dict__, "powered_on": False})
                self.transports[name].services.clear()  # nothing runs on a node that is off
                return self.nodes[name]
        finally:
            self._leave()

    def scale_node(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        if not self.can_scale_nodes:
            raise ProviderError(self.scale_refusal or "", node=name)
        self._enter("scale", name)
        try:
            time.sleep(self.delay_s)
            with self._lock:
                info = self.nodes[name]
                self.nodes[name] = NodeInfo(**{**info.__dict__, "cpu": cpu,
                                               "memory_mb": memory_mb, "powered_on": True})
                return self.nodes[name]
        finally:
            self._leave()

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        with self._lock:
            return [n for n in self.nodes.values() if n.cluster == cluster]

    def transport(self, node: NodeInfo) -> MemoryTransport:
        return self.transports[node.name]

    def seed(self, cluster: str, name: str, group: str, index: int) -> None:
        """A node that exists before the engine looks (left by an interrupted operation)."""
        self.ensure_node(NodeRequest(cluster, name, group, index, 1, 1024, 10))


@dataclass
class ScriptedRole:
    """A role whose software is a service entry in a MemoryTransport.

    Healthy once started and ``checks_until_healthy`` health checks have been answered;
    ``start_error`` / ``exit_message`` make it fail at start or after starting,
    ``stop_error`` / ``decommission_error`` make those steps fail.
    """

    name: str
    provides: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()
    settings: dict[str, Setting] = field(default_factory=dict)
    summary: str = "a scripted test role"
    checks_until_healthy: int = 1
    # a node whose machine is gone may be replaced (ndovu.roles.base.Role)
    replaceable: bool = True
    start_error: str | None = None
    exit_message: str | None = None
    stop_error: str | None = None
    decommission_error: str | None = None
    # how many joining starts are refused for now (retryable), like etcd right after a
    # change of membership
    refuse_joins: int = 0

    def __post_init__(self) -> None:
        self.config_section = self.name
        self.checks: dict[str, int] = {}
        self.started_at: dict[str, float] = {}
        # what the engine asked of this role, in order: (verb, node, joining) with verb
        # "start", "stop" or "decommission"
        self.log: list[tuple[str, str, bool]] = []
        # decommission(node) -> the members it saw staying
        self.decommissioned: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def unsupported_reason(self) -> str | None:
        return None

    def install(self, ctx: RoleContext) -> None:
        ctx.transport.write_file(f"{self.name}.installed", "yes\n")

    def configure(self, ctx: RoleContext) -> None:
        peers = ",".join(m.address for m in ctx.members.get(self.name, ()))
        ctx.transport.write_file(f"{self.name}.conf", f"peers={peers}\n")

    def start(self, ctx: RoleContext) -> None:
        if self.start_error:
            raise NodeBootstrapError(self.start_error, node=ctx.node.name, role=self.name)
        if ctx.joining and self.refuse_joins > 0:
            with self._lock:
                self.refuse_joins -= 1
            raise NodeBootstrapError("the cluster is not ready to admit a member yet",
                                     node=ctx.node.name, role=self.name, retryable=True)
        ctx.transport.start_service(self.name, [self.name])
        with self._lock:
            self.started_at.setdefault(ctx.node.name, time.monotonic())
            self.log.append(("start", ctx.node.name, ctx.joining))

    def stop(self, ctx: RoleContext) -> None:
        if self.stop_error:
            raise NodeBootstrapError(self.stop_error, node=ctx.node.name, role=self.name)
        ctx.transport.stop_service(self.name)
        with self._lock:
            self.log.append(("stop", ctx.node.name, ctx.joining))

    def decommission(self, ctx: RoleContext) -> None:
        if self.decommission_error:
            raise NodeBootstrapError(self.decommission_error, node=ctx.node.name,
                                     role=self.name)
        with self._lock:
            self.log.append(("decommission", ctx.node.name, ctx.joining))
            self.decommissioned[ctx.node.name] = [m.name for m in
                                                  ctx.members.get(self.name, ())]

    def health(self, ctx: RoleContext) -> Health:
        if not ctx.transport.service_running(self.name):
            return Health(False, f"{self.name} is not running", failed=True)
        if self.exit_message:
            return Health(False, self.exit_message, failed=True)
        with self._lock:
            seen = self.checks[ctx.node.name] = self.checks.get(ctx.node.name, 0) + 1
        if seen < self.checks_until_healthy:
            return Health(False, f"warming up ({seen}/{self.checks_until_healthy})")
        return Health(True, "ok")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        nodes = members.get(self.name, ())
        return {self.name: ",".join(m.address for m in nodes)} if nodes else {}
