"""The sim provider: simulated machines with a latency and failure model, for scale and
fault tests (1,000-node clusters, crashes, flaky clouds). Never the default.

Nothing runs on its nodes: roles see a transport whose files and services are records in
the inventory (``sim_inventory``), so only roles made for it (``sim_service``) can be
healthy there. What it simulates is the cloud's side:

- ``api_latency_s``: every call (list, create, power, scale, delete) takes this long;
- ``boot_latency_s``: a node being created, powered on or rebooted to scale takes this
  much longer;
- ``max_parallel``: at most this many calls run at once; more wait for a free slot (the
  engine also sizes its node pool by it). Counted per process;
- ``failure_rate`` with ``seed``: each mutating call fails with this probability, with a
  retryable error, decided by ``random.Random`` seeded with (seed, verb, node, attempt):
  the same options fail the same calls on every run;
- ``fail_nodes``: glob patterns of nodes whose create and power-on always fail, with a
  retryable error (a cloud that keeps saying "try again"); ``refuse_nodes``: the same
  with an error marked not retryable (a request the cloud can never satisfy);
- ``inventory``: the SQLite file of the simulated cloud (default
  ``STATE_DIR/sim-inventory.db``), shared by every engine on the host and kept across
  restarts; ``":memory:"`` (or None) keeps it in this process only;
- ``subnet``: where nodes get addresses when their cluster has no network.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ndovu.errors import ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.providers.sim_inventory import Inventory, SimTransport

DEFAULT_INVENTORY = "sim-inventory.db"


def _number(option: str, value: object, kind: type[int] | type[float], low: float | None = None,
            high: float | None = None) -> Any:
    """An option's value as ``kind`` (settings from the environment arrive as text)."""
    try:
        number = kind(value) if isinstance(value, str | int | float) else None
    except ValueError:
        number = None
    if (number is None or isinstance(value, bool) or (low is not None and number < low)
            or (high is not None and number > high)):
        limits = (f" between {low:g} and {high:g}" if high is not None
                  else f" of at least {low:g}" if low is not None else "")
        raise ProviderError(f"sim provider option {option} must be a number{limits}, "
                            f"not {value!r}")
    return number


def _patterns(value: str | Sequence[str]) -> tuple[str, ...]:
    """Glob patterns, from a list or from comma-separated text."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(str(p).strip() for p in items if str(p).strip())


class SimProvider:
    name = "sim"
    # simulated machines: only roles naming "sim" in their ``providers`` run there
    runs_software = False
    can_scale_nodes = True
    scale_refusal = None
    address_space = None  # simulated addresses: a network may use any blocks
    static_network_refusal = None
    password_refusal = ("the sim provider's nodes are simulated: they have no logins whose "
                        "password ndovu could set")

    def __init__(self, state_dir: Path, *, boot_latency_s: float = 1.0,
                 api_latency_s: float = 0.05, max_parallel: int = 50,
                 failure_rate: float = 0.0, seed: int = 0,
                 fail_nodes: str | Sequence[str] = (),
                 refuse_nodes: str | Sequence[str] = (),
                 inventory: str | None = DEFAULT_INVENTORY, subnet: str = "10.0.0.0/8"):
        boot_latency_s = _number("boot_latency_s", boot_latency_s, float, 0)
        api_latency_s = _number("api_latency_s", api_latency_s, float, 0)
        max_parallel = _number("max_parallel", max_parallel, int, 1)
        failure_rate = _number("failure_rate", failure_rate, float, 0, 1)
        seed = _number("seed", seed, int)
        try:
            network = ipaddress.IPv4Network(subnet)
        except ValueError as exc:
            raise ProviderError(f"sim provider subnet {subnet!r} is not valid: {exc}",
                                hint="give a network such as 10.0.0.0/8") from exc
        self.boot_latency_s = float(boot_latency_s)
        self.api_latency_s = float(api_latency_s)
        self.max_parallel = max_parallel
        self.failure_rate = float(failure_rate)
        self.seed = seed
        self.fail_nodes = _patterns(fail_nodes)
        self.refuse_nodes = _patterns(refuse_nodes)
        in_memory = inventory in (None, ":memory:")
        path = ":memory:" if in_memory else Path(state_dir) / str(inventory)
        self.inventory = Inventory(path, network)
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._attempts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    # -- the latency and failure model -----------------------------------------------

    def _call(self, verb: str, node: str | None, *, boot: bool = False) -> None:
        """Take a slot for the call's latency, then fail it if the model says so."""
        with self._slots:
            time.sleep(self.api_latency_s)
            if node is not None:
                self._maybe_fail(verb, node)
            if boot:
                time.sleep(self.boot_latency_s)

    def _maybe_fail(self, verb: str, node: str) -> None:
        if verb in ("create", "power on"):
            if any(fnmatch.fnmatchcase(node, p) for p in self.refuse_nodes):
                raise ProviderError(f"the simulated cloud refuses to {verb} {node}: no "
                                    "flavor fits the request (sim option refuse_nodes)",
                                    node=node, retryable=False)
            if any(fnmatch.fnmatchcase(node, p) for p in self.fail_nodes):
                raise ProviderError(f"the simulated cloud could not {verb} {node}: no "
                                    "capacity left, try again later (sim option fail_nodes)",
                                    node=node, retryable=True)
        if self.failure_rate <= 0:
            return
        with self._lock:
            attempt = self._attempts[(verb, node)] = self._attempts.get((verb, node), 0) + 1
        # a string seed is hashed with SHA-512: the same on every run and in every process
        if random.Random(f"{self.seed}/{verb}/{node}/{attempt}").random() < self.failure_rate:
            raise ProviderError(f"the simulated cloud failed to {verb} {node}: 503 Service "
                                f"Unavailable (injected: failure_rate {self.failure_rate:g}, "
                                f"seed {self.seed}, attempt {attempt})",
                                node=node, retryable=True)

    # -- Provider ----------------------------------------------------------------------

    def ensure_node(self, request: NodeRequest) -> NodeInfo:
        existing = self.inventory.get(request.name)
        if existing is not None and existing.cluster == request.cluster:
            self._call("get", None)
            return existing
        with self._slots:
            time.sleep(self.api_latency_s)
            self._maybe_fail("create", request.name)
            # recorded before it boots, as a cloud lists a machine that is still booting
            info, made = self.inventory.create(request)
            if made:
                time.sleep(self.boot_latency_s)
        return info

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        self._call("list", None)
        return self.inventory.list(cluster)

    def power_on(self, cluster: str, name: str) -> NodeInfo:
        was_on = self.inventory.owned(cluster, name).powered_on
        self._call("power on", name, boot=not was_on)
        return self.inventory.set_power(cluster, name, True)

    def power_off(self, cluster: str, name: str) -> NodeInfo:
        self.inventory.owned(cluster, name)
        self._call("power off", name)
        return self.inventory.set_power(cluster, name, False)

    def scale_node(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        info = self.inventory.owned(cluster, name)
        if (info.cpu, info.memory_mb) == (cpu, memory_mb) and info.powered_on:
            return info
        # a machine is rebooted to change its size: its services end
        self._call("scale", name, boot=True)
        return self.inventory.resize(cluster, name, cpu, memory_mb)

    def delete_node(self, cluster: str, name: str) -> None:
        if self.inventory.get(name) is None:
            return
        self._call("delete", name)
        self.inventory.delete(cluster, name)

    def forget_node(self, cluster: str, name: str) -> str:
        self.inventory.delete(cluster, name)  # the inventory is all a simulated node is
        return "nothing: a simulated node is its inventory entry, now gone"

    def release_cluster(self, cluster: str) -> None:
        pass  # its nodes share nothing

    def transport(self, node: NodeInfo) -> SimTransport:
        return SimTransport(self.inventory, node.name, node.address)
