"""The ``sim_service`` role: a simulated service for the sim provider's simulated nodes.

It runs nothing: starting it records the service through the node's transport (with the
time it started, in a file of the node), and it is healthy once ``start_latency_ms`` has
passed since then. Real roles cannot be healthy on simulated nodes and this one means
nothing on real ones, so it declares the only provider it runs on (``providers``); the
catalog and the API refuse it anywhere else with that reason.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from ndovu.roles.base import Health, Member, RoleContext, Setting, resolve_settings

SERVICE = "sim_service"
STARTED_FILE = "sim_service.started"

SETTINGS = {s.name: s for s in (
    Setting("start_latency_ms", "int", "how long the simulated service takes to become "
            "healthy after it starts, in milliseconds", 0, minimum=0),
)}


class SimServiceRole:
    name = SERVICE
    summary = "a simulated service that runs only on the sim provider's simulated nodes"
    provides = frozenset({SERVICE})
    requires: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()
    config_section = SERVICE
    settings = SETTINGS
    # the providers this role runs on (roles without this attribute need real machines)
    providers = frozenset({"sim"})
    # a simulated node keeps nothing a fresh one lacks
    replaceable = True

    def unsupported_reason(self) -> str | None:
        return None

    def install(self, ctx: RoleContext) -> None:
        return None  # nothing to install on a simulated node

    def configure(self, ctx: RoleContext) -> None:
        pass  # nothing to configure: the latency is read from the cluster's configuration

    def start(self, ctx: RoleContext) -> None:
        # wall-clock time: another engine process may be the one checking health. The
        # engine starts a role once (it remembers roles_started), so no check of whether
        # it runs already: at worst a repeated start delays health by the latency again
        # full precision: a time rounded up would lie in the future for a moment
        ctx.transport.write_file(STARTED_FILE, f"{time.time()!r}\n")
        ctx.transport.start_service(SERVICE, [SERVICE])

    def stop(self, ctx: RoleContext) -> None:
        ctx.transport.stop_service(SERVICE)

    def decommission(self, ctx: RoleContext) -> None:
        pass  # nothing to hand over

    def health(self, ctx: RoleContext) -> Health:
        if not ctx.transport.service_running(SERVICE):
            return Health(False, f"{SERVICE} is not running on {ctx.node.name}", failed=True)
        latency_s = resolve_settings(self, ctx.configuration)["start_latency_ms"] / 1000
        try:
            started = float(ctx.transport.read_file(STARTED_FILE) or "")
        except ValueError:
            started = 0.0  # a start time that was lost: the service runs, call it started
        if time.time() < started + latency_s:
            # the same text on every check: the node's action is not rewritten per poll
            return Health(False, f"{SERVICE} is starting (it takes {latency_s:g} s)")
        return Health(True, f"{SERVICE} is running")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        nodes = members.get(SERVICE, ())
        return {SERVICE: ",".join(m.address for m in nodes)} if nodes else {}
