"""The service-role base: one long-running program per node, started through the transport.

What ZooKeeper, etcd and Spark share lives here once: getting the software onto the node
(the packages the distro manifest names, installed by the node's package manager through
the transport, and its depot tarballs, fetched and unpacked by the node), checking that
what the role runs is really there, resolving settings, refusing ports another process
holds, starting and stopping the service, and turning an exited process into a failed
Health with the lines of its log that say why.

A subclass says what it runs (``command``, ``environment``), what it writes
(``configure``), how healthy looks (``health``) and what it publishes (``endpoints``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ndovu.errors import NodeBootstrapError
from ndovu.roles import software
from ndovu.roles.base import (
    Health,
    Member,
    RoleContext,
    Setting,
    failure_excerpt,
    refuse_taken_ports,
    resolve_settings,
)
from ndovu.spec.model import RoleSoftware
from ndovu.transports.base import PackageError


class ServiceRole:
    name: str
    summary: str
    # the transport's service name of the role's program on a node
    service: str
    provides: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()
    config_section: str
    settings: Mapping[str, Setting]
    # what the node's package manager installs when the cluster's distro names nothing
    # for this role (Debian names); empty: the role brings its software another way
    packages: tuple[str, ...] = ()
    # files and programs the role runs, checked on the node after the install (a file
    # path not starting with "/" is inside the role's depot tarball): a missing one is a
    # clear error rather than a service that exits at once
    required_files: tuple[str, ...] = ()
    required_programs: tuple[str, ...] = ()
    # how health is probed: over the network from the engine, on these ports of the
    # node's address (the engine must reach them), plus the transport's service status
    probe_ports: tuple[int, ...] = ()
    # seconds the program may take to exit on SIGTERM before it is killed
    stop_timeout_s: float = 20.0

    def unsupported_reason(self) -> str | None:
        """Software comes from the node's package manager: the server needs none."""
        return None

    # -- software ---------------------------------------------------------------------

    def node_software(self, ctx: RoleContext) -> RoleSoftware:
        """What the cluster's distro manifest names for this role, else our packages."""
        return ctx.software.get(self.name) or RoleSoftware(self.packages)

    def software_home(self, ctx: RoleContext) -> str:
        """Where the role's depot tarball is unpacked on the node (its first one)."""
        tarballs = self.node_software(ctx).tarballs
        if not tarballs:
            raise NodeBootstrapError(
                f"{self.name} runs software from ndovu's depot, and the cluster's distro "
                "names no tarball for it; the catalog manifest must name one",
                node=ctx.node.name, role=self.name)
        return software.home_of(ctx.transport, tarballs[0])

    def install(self, ctx: RoleContext) -> None:
        """Install the role's software on the node (a no-op when it is there) and check
        that what the role runs is present."""
        wanted = self.node_software(ctx)
        node = ctx.node.name
        if wanted.packages:
            try:
                ctx.transport.install_packages(wanted.packages)
            except PackageError as exc:
                raise NodeBootstrapError(
                    f"cannot install {self.name}'s software ({', '.join(wanted.packages)}) "
                    f"on {node}: {exc.message}", node=node, role=self.name) from exc
        for tarball in wanted.tarballs:
            software.install_tarball(ctx.transport, tarball, ctx.depot_url, node=node,
                                     role=self.name)
        # relative paths are inside the role's depot software
        files = [path if path.startswith("/") else f"{self.software_home(ctx)}/{path}"
                 for path in self.required_files]
        missing = [path for path in files
                   if not ctx.transport.run(["test", "-f", path], timeout=30).ok]
        missing += [program for program in self.required_programs
                    if not ctx.transport.run(["which", program], timeout=30).ok]
        if missing:
            sources = [*wanted.packages, *(t.path for t in wanted.tarballs)]
            raise NodeBootstrapError(
                f"{self.name} needs {', '.join(missing)} on {node}, which "
                f"{', '.join(sources) if sources else 'the node'} did not provide; name "
                "the right software for this role in the distro manifest",
                node=node, role=self.name)

    # -- settings ---------------------------------------------------------------------

    def _settings(self, ctx: RoleContext) -> dict[str, Any]:
        try:
            return resolve_settings(self, ctx.configuration)
        except ValueError as exc:
            raise NodeBootstrapError(str(exc), node=ctx.node.name, role=self.name) from None

    def _members(self, ctx: RoleContext) -> tuple[Member, ...]:
        return tuple(ctx.members.get(self.name, ()))

    # -- what a subclass says ---------------------------------------------------------

    def configure(self, ctx: RoleContext) -> None:
        raise NotImplementedError

    def command(self, ctx: RoleContext) -> list[str]:
        raise NotImplementedError

    def environment(self, ctx: RoleContext) -> dict[str, str]:
        return {}

    def listen_ports(self, ctx: RoleContext) -> Sequence[int]:
        """The ports of the node's address the program will listen on."""
        return self.probe_ports

    def ready_to_start(self, ctx: RoleContext) -> None:
        """Raise NodeBootstrapError when the node is not configured for a start yet."""

    def admit(self, ctx: RoleContext, argv: list[str]) -> list[str]:
        """Just before the start, once the ports are free: what must happen first (etcd
        asks a member to admit a node joining a running cluster, and starts a new
        cluster's members one after another); returns the argv to run."""
        return argv

    def health(self, ctx: RoleContext) -> Health:
        raise NotImplementedError

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        return {}

    # -- lifecycle --------------------------------------------------------------------

    def start(self, ctx: RoleContext) -> None:
        transport = ctx.transport
        node = ctx.node.name
        reason = self.unsupported_reason()
        if reason is not None:
            raise NodeBootstrapError(reason, node=node, role=self.name)
        if transport.service_running(self.service):
            return
        self.ready_to_start(ctx)
        argv = self.command(ctx)  # checks membership and settings before anything runs
        refuse_taken_ports(ctx, self.name, self.listen_ports(ctx))
        argv = self.admit(ctx, argv)
        try:
            transport.start_service(self.service, argv, env=self.environment(ctx))
        except OSError as exc:
            raise NodeBootstrapError(f"could not start {self.name} on {node}: {exc}",
                                     node=node, role=self.name) from exc

    def stop_timeout(self, ctx: RoleContext) -> float:
        return self.stop_timeout_s

    def stop(self, ctx: RoleContext) -> None:
        ctx.transport.stop_service(self.service, timeout=self.stop_timeout(ctx))

    def decommission(self, ctx: RoleContext) -> None:
        """Nothing to hand over unless a subclass says so."""
        return None

    def read_log(self, log: str) -> str:
        """The service's log as a person reads it (etcd turns JSON lines into text)."""
        return log

    def exited(self, ctx: RoleContext) -> Health | None:
        """A failed Health when the program is gone (waiting cannot bring it back), with
        the lines of its log that say why; None while it runs."""
        transport = ctx.transport
        if transport.service_running(self.service):
            return None
        detail = failure_excerpt(self.read_log(transport.service_log_tail(self.service, 200)))
        return Health(False, f"{self.name} process is not running; its log says: {detail}",
                      failed=True)
