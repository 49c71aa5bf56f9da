"""The local provider: nodes are directories with their own loopback address.

Linux routes all of 127.0.0.0/8 to ``lo``, so every node gets its own 127.X.Y.Z and its
software binds only that address, without root. Everything the provider knows lives on
disk (state_dir/nodes/<name>/node.json), so a restarted server re-finds its nodes by
scanning; allocation is serialized by an fcntl lock, so threads of one server and several
servers sharing a state dir never hand out the same address.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ndovu import addresses
from ndovu.errors import ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.transports.local import LocalTransport, stop_all_services

log = logging.getLogger(__name__)

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
# node names become directory names: one path component, nothing hidden
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TCP_LISTEN = "0A"
_TRASH_PREFIX = ".trash-"
# a node a forced delete gave up on (ndovu.providers.base.Provider.forget_node)
_LEFTOVER_PREFIX = ".leftover-"


def listening_addresses() -> set[ipaddress.IPv4Address]:
    """IPv4 addresses on which some socket is listening (from /proc/net/tcp and tcp6).

    Wildcard listeners (0.0.0.0, ::) are left out: they would rule out every address.
    """
    found: set[ipaddress.IPv4Address] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                rows = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 4 or fields[3] != _TCP_LISTEN:
                continue
            address = _decode_proc_address(fields[1].split(":")[0])
            if address is not None and not address.is_unspecified:
                found.add(address)
    return found


def _decode_proc_address(hex_address: str) -> ipaddress.IPv4Address | None:
    # the kernel prints each 32-bit word in host (little-endian) byte order
    if len(hex_address) == 8:
        return ipaddress.IPv4Address(int(hex_address, 16).to_bytes(4, "little"))
    if len(hex_address) == 32:
        packed = b"".join(int(hex_address[i:i + 8], 16).to_bytes(4, "little")
                          for i in range(0, 32, 8))
        v6 = ipaddress.IPv6Address(packed)
        return v6.ipv4_mapped
    return None


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _info(data: dict[str, Any]) -> NodeInfo:
    return NodeInfo(cluster=data["cluster"], name=data["name"], group=data["group"],
                    index=int(data["index"]), provider_id=data["name"],
                    address=data["address"], powered_on=bool(data["powered_on"]))


class LocalProvider:
    """Nodes as directories under ``state_dir``/nodes, each with an address from ``subnet``."""

    name = "local"
    runs_software = True
    can_scale_nodes = False
    scale_refusal = (
        "the local provider runs each node as processes on this machine; it cannot change "
        "a node's CPU or memory (they share this machine's). To scale nodes up or down, "
        "run ndovu with a provider that gives nodes their own machines (vSphere or "
        "OpenStack, once configured); to add capacity here, resize the node group instead")
    # nodes bind loopback addresses only: a network's ipBlocks must lie in 127.0.0.0/8
    address_space = str(LOOPBACK)
    static_network_refusal = None
    password_refusal = (
        "ndovu does not set node passwords on the local provider: its nodes are processes "
        "of this machine's user, with no login of their own to protect")

    def __init__(self, state_dir: Path, *, subnet: str = "127.1.0.0/16",
                 max_parallel: int = 16):
        try:
            network = ipaddress.IPv4Network(subnet)
        except ValueError as exc:
            raise ProviderError(f"local provider subnet {subnet!r} is not valid: {exc}",
                                hint="give a network such as 127.1.0.0/16") from exc
        if not network.subnet_of(LOOPBACK):
            raise ProviderError(
                f"local provider subnet {subnet} is outside 127.0.0.0/8: local nodes "
                "live on loopback addresses only",
                hint="give a network such as 127.1.0.0/16")
        if max_parallel < 1:
            raise ProviderError(f"max_parallel must be at least 1, not {max_parallel}")
        self.state_dir = Path(state_dir).resolve()
        self.subnet = network
        self.max_parallel = max_parallel
        self.nodes_dir = self.state_dir / "nodes"
        self.nodes_dir.mkdir(parents=True, exist_ok=True)
        # finish removals a crash interrupted (the node was already gone: see delete_node)
        self._sweep_trash()

    # -- on-disk state ---------------------------------------------------------------

    def _node_dir(self, name: str) -> Path:
        if not _NODE_NAME.match(name):
            raise ProviderError(
                f"node name {name!r} cannot be used as a directory name: use letters, "
                "digits, '-', '_' and '.', starting with a letter or digit", node=name)
        return self.nodes_dir / name

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        # flock on a fresh descriptor: excludes threads of this process and other processes
        with open(self.nodes_dir / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self, node_dir: Path) -> dict[str, Any] | None:
        try:
            data = json.loads((node_dir / "node.json").read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable %s: %s", node_dir / "node.json", exc)
            return None
        return data if isinstance(data, dict) else None

    def _all_nodes(self) -> list[dict[str, Any]]:
        nodes = []
        for node_dir in sorted(self.nodes_dir.iterdir()):
            if node_dir.name.startswith(".") or not node_dir.is_dir():
                continue
            data = self._load(node_dir)
            if data is not None:
                nodes.append(data)
        return nodes

    def _owned(self, cluster: str, name: str) -> dict[str, Any]:
        data = self._load(self._node_dir(name))
        if data is None or data.get("cluster") != cluster:
            raise ProviderError(f"node {name} of cluster {cluster} does not exist", node=name)
        return data

    def _allocate_address(self, pool: tuple[tuple[str, str], ...] = ()) -> str:
        """The first free address of ``pool`` (the cluster's network) or, without one,
        of the subnet; call with the lock held."""
        taken = {ipaddress.IPv4Address(n["address"]) for n in self._all_nodes()
                 if "address" in n}
        taken |= listening_addresses()
        if pool:
            for block in pool:
                if not addresses.inside(block, LOOPBACK):
                    raise ProviderError(
                        f"network block {addresses.describe([block])} is outside "
                        f"{LOOPBACK}: local nodes live on loopback addresses only")
            # the operator chose these blocks: every address in them is handed out
            for address in addresses.addresses(pool):
                if address not in taken:
                    return str(address)
            raise ProviderError(f"no free address left in the cluster's network "
                                f"({addresses.describe(pool)})",
                                hint="add ipBlocks to the network or delete unused clusters")
        # hosts() leaves out the subnet's own network and broadcast addresses; .0 and
        # .255 inside it are skipped too, as tools treat them as such in a /24 view
        for address in self.subnet.hosts():
            last_octet = int(address) & 0xFF
            if last_octet in (0, 255) or address in taken:
                continue
            return str(address)
        raise ProviderError(f"no free address left in {self.subnet}",
                            hint="delete unused clusters or give the local provider a "
                                 "larger subnet")

    # -- Provider --------------------------------------------------------------------

    def ensure_node(self, request: NodeRequest) -> NodeInfo:
        node_dir = self._node_dir(request.name)
        with self._lock():
            existing = self._load(node_dir)
            if existing is not None:
                if existing.get("cluster") != request.cluster:
                    raise ProviderError(
                        f"node {request.name} already exists and belongs to cluster "
                        f"{existing.get('cluster')}, not {request.cluster}",
                        node=request.name,
                        hint="node names must be unique across clusters")
                return _info(existing)
            data = {
                "cluster": request.cluster, "name": request.name, "group": request.group,
                "index": request.index,
                "address": self._allocate_address(request.address_pool),
                "powered_on": True, "created_at": time.time(),
            }
            # a directory without node.json is what a crash mid-create left: reuse it
            node_dir.mkdir(parents=True, exist_ok=True)
            _write_json_atomically(node_dir / "node.json", data)
        return _info(data)

    def list_nodes(self, cluster: str) -> list[NodeInfo]:
        nodes = [_info(n) for n in self._all_nodes() if n.get("cluster") == cluster]
        return sorted(nodes, key=lambda n: (n.group, n.index, n.name))

    def _set_power(self, cluster: str, name: str, powered_on: bool) -> NodeInfo:
        with self._lock():
            data = self._owned(cluster, name)
            data["powered_on"] = powered_on
            _write_json_atomically(self._node_dir(name) / "node.json", data)
        return _info(data)

    def power_on(self, cluster: str, name: str) -> NodeInfo:
        # nothing to boot: the roles start the node's services
        return self._set_power(cluster, name, True)

    def power_off(self, cluster: str, name: str) -> NodeInfo:
        self._owned(cluster, name)
        stop_all_services(self._node_dir(name))
        return self._set_power(cluster, name, False)

    def scale_node(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        raise ProviderError(self.scale_refusal, node=name)

    def delete_node(self, cluster: str, name: str) -> None:
        node_dir = self._node_dir(name)
        if not node_dir.exists():
            return
        data = self._load(node_dir)
        if data is not None and data.get("cluster") != cluster:
            raise ProviderError(
                f"node {name} belongs to cluster {data.get('cluster')}, not {cluster}: "
                "not deleting it", node=name)
        stop_all_services(node_dir)
        # one rename takes the node away at once; a crash during the removal below
        # leaves only a hidden trash directory, which is never mistaken for a node
        trash = self.nodes_dir / f"{_TRASH_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
        with self._lock():
            try:
                node_dir.rename(trash)
            except FileNotFoundError:
                return
        shutil.rmtree(trash, ignore_errors=True)
        self._sweep_trash()

    def forget_node(self, cluster: str, name: str) -> str:
        node_dir = self._node_dir(name)
        # renamed out of the nodes' namespace: never listed, never adopted by a new cluster
        # of the same name; kept for the operator to look at
        leftover = self.nodes_dir / f"{_LEFTOVER_PREFIX}{name}-{uuid.uuid4().hex[:8]}"
        with self._lock(), contextlib.suppress(FileNotFoundError):
            node_dir.rename(leftover)
            return f"its folder, moved to {leftover}, and any process still running from it"
        return "any process still running from its folder"

    def release_cluster(self, cluster: str) -> None:
        pass  # its nodes share nothing

    def _sweep_trash(self) -> None:
        for leftover in self.nodes_dir.glob(f"{_TRASH_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)

    def transport(self, node: NodeInfo) -> LocalTransport:
        return LocalTransport(self._node_dir(node.name), node.address,
                              software_dir=self.state_dir / "software")
