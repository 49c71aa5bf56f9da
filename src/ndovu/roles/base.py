"""The Role protocol: one piece of software on one node.

A role renders its config, starts, stops and checks its software through a Transport.
It declares the services it ``provides``, ``requires`` and ``uses`` (waits for when the
cluster has them); the engine orders bootstrap from those declarations (BDE's
provide_service / wait_for_service).

A role also declares the ``settings`` it understands. A cluster's configuration is
BDE-shaped, one section per software: ``{"zookeeper": {"tickTime": 3000}, "spark":
{"worker.cores": 2}}``; the section is the role's ``config_section``. The API refuses
sections and keys no role of the cluster understands before anything is created.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ndovu.errors import NodeBootstrapError
from ndovu.spec.model import RoleSoftware
from ndovu.transports.base import Transport


@dataclass(frozen=True)
class Member:
    """A node as roles see it: no provider details."""

    name: str
    group: str
    index: int
    address: str


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str
    # True when waiting cannot help (the process exited, the config is wrong): the engine
    # then fails the node at once with ``message`` instead of waiting for its timeout
    failed: bool = False


SettingKind = Literal["int", "string", "size", "bool"]
_SIZE = re.compile(r"^[1-9][0-9]*[kmgt]?$")


@dataclass(frozen=True)
class Setting:
    """One configuration key a role understands, with its type and default."""

    name: str
    kind: SettingKind
    description: str
    default: Any = None
    minimum: int | None = None  # for "int"
    choices: tuple[str, ...] = ()  # for "string": the allowed values, when limited

    def parse(self, value: Any) -> Any:
        """The value in its canonical type; ValueError says what is wrong."""
        if self.kind == "int":
            if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"must be an integer, not {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"must be at least {self.minimum}, not {value}")
            return value
        if self.kind == "bool":
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {value!r}")
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"must be a non-empty string, not {value!r}")
        value = value.strip()
        if self.kind == "size":
            value = value.lower()
            if not _SIZE.match(value):
                raise ValueError(f"must be a size such as 512m or 2g, not {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, not {value!r}")
        return value


def resolve_settings(role: Role, configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The role's settings: defaults, overridden by its section of ``configuration``.

    Raises ValueError naming the key for an unknown key or a bad value (the API checked
    this already; a role calling it again is a guard, not the first line).
    """
    section = configuration.get(role.config_section) or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"configuration section {role.config_section!r} must be an object "
                         f"of settings, not {section!r}")
    values = {name: s.default for name, s in role.settings.items() if s.default is not None}
    for key, value in section.items():
        setting = role.settings.get(key)
        if setting is None:
            continue  # another role of the same section understands it
        try:
            values[key] = setting.parse(value)
        except ValueError as exc:
            raise ValueError(f"{role.config_section}.{key} {exc}") from None
    return values


_FAILURE_LINE = re.compile(r"ERROR|FATAL|Exception|Error\b|error:|panic|fatal", re.IGNORECASE)
_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


def failure_excerpt(log: str, limit: int = 6) -> str:
    """The lines of a log tail that say why a process failed.

    A JVM's last lines are mostly stack frames ("at ..."); what the operator needs is the
    exception and error lines above them, so keep those (the last ``limit``), or the last
    plain lines when nothing looks like an error.
    """
    lines = [line.rstrip() for line in log.splitlines()
             if line.strip() and not _STACK_FRAME.match(line)]
    # an error line and the line after it, which often holds the reason (the JVM writes
    # "Error occurred during initialization of VM" and then "Too small maximum heap")
    marked = {j for i, line in enumerate(lines) if _FAILURE_LINE.search(line)
              for j in (i, i + 1) if j < len(lines)}
    errors = [line for i, line in enumerate(lines) if i in marked]
    chosen = list(dict.fromkeys(errors or lines))[-limit:]
    return "\n".join(chosen)[-2000:] if chosen else "(no log)"


def listening(address: str, port: int, timeout: float = 3.0) -> bool:
    """Whether something accepts connections on ``address``:``port`` (from the engine)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def refuse_taken_ports(ctx: RoleContext, role: str, ports: Iterable[int]) -> None:
    """Before starting: fail with a clear error if something already accepts connections
    on one of ``ports`` of the node's address (a refused connection means free)."""
    for port in ports:
        try:
            with socket.create_connection((ctx.node.address, port), timeout=1.0):
                taken = True
        except OSError:
            taken = False
        if taken:
            raise NodeBootstrapError(
                f"port {port} on {ctx.node.address} is already in use by another process; "
                f"{role} cannot listen there", node=ctx.node.name, role=role, retryable=True)


@dataclass(frozen=True)
class RoleContext:
    cluster: str
    node: Member
    transport: Transport
    # role name -> every node of the cluster that has that role, in a stable order
    members: Mapping[str, tuple[Member, ...]]
    configuration: Mapping[str, Any] = field(default_factory=dict)
    # True when this node's role joins a cluster that already runs (a resize adds the
    # node): e.g. etcd must ask the running members to admit it before it starts
    joining: bool = False
    # role name -> its software as the cluster's distro manifest names it (absent: the
    # role's own default packages)
    software: Mapping[str, RoleSoftware] = field(default_factory=dict)
    # the base URL of the server's software depot, as the nodes reach it
    depot_url: str = ""
    # the transport of another node of the cluster (a member), for the rare step that
    # must act on a peer's files: an HDFS DataNode that leaves is named in the
    # NameNode's excludes file. None where the engine offers no peers (unit tests).
    peer_transport: Callable[[Member], Transport] | None = None


class Role(Protocol):
    name: str
    provides: frozenset[str]
    requires: frozenset[str]
    # optional services: waited for when a role of the cluster provides them
    uses: frozenset[str]
    # the configuration section this role reads, and the keys it understands there
    config_section: str
    settings: Mapping[str, Setting]
    # what the role runs, for the catalog: e.g. "Apache ZooKeeper from Debian's zookeeper"
    summary: str
    # optional (read with getattr): ``providers: frozenset[str]``, the only providers the
    # role runs on (sim_service: {"sim"}); without it a role runs on every provider whose
    # machines run real software (engine.planner.runs_on)
    # optional (read with getattr): ``replaceable: bool``, whether a node of this role whose
    # machine is gone may be replaced by a fresh one that rejoins and gets its state back
    # from the others (ZooKeeper, etcd, Kafka, HDFS DataNodes...); without it, False: a
    # fresh NameNode would format an empty namespace, a fresh Cassandra node at the old
    # address needs replace_address

    def unsupported_reason(self) -> str | None:
        """Why this role cannot run on this machine (missing software), or None."""

    def install(self, ctx: RoleContext) -> None:
        """Get the role's software onto the node through the transport (idempotent: a
        no-op when it is there) and check that what the role runs is present."""

    def configure(self, ctx: RoleContext) -> None: ...

    def start(self, ctx: RoleContext) -> None: ...

    def stop(self, ctx: RoleContext) -> None: ...

    def decommission(self, ctx: RoleContext) -> None:
        """Hand over before the node leaves the cluster for good (a resize removes it),
        while it still runs: e.g. etcd removes the member through a remaining one.
        ``ctx.members`` lists the members that stay. Idempotent; a no-op for most roles."""

    def health(self, ctx: RoleContext) -> Health: ...

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]: ...
