"""The sim provider's inventory: its simulated machines, their files and services.

A SQLite database, so the simulated cloud outlives the engine like a real one: a server
killed with ``kill -9`` and started again finds its nodes (and what runs on them), and
two engine processes on one host share one cloud. ``":memory:"`` keeps it in this
process only (nothing survives it). One connection per process, serialized by a lock;
writes take SQLite's write lock at once (``BEGIN IMMEDIATE``), so an address is never
handed out twice, also across processes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ndovu import addresses
from ndovu.errors import ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.transports.base import CommandResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY, cluster TEXT NOT NULL, grp TEXT NOT NULL, idx INTEGER NOT NULL,
    address TEXT NOT NULL UNIQUE, powered_on INTEGER NOT NULL, cpu INTEGER,
    memory_mb INTEGER, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS nodes_by_cluster ON nodes (cluster);
CREATE TABLE IF NOT EXISTS files (
    node TEXT NOT NULL, path TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (node, path));
CREATE TABLE IF NOT EXISTS services (
    node TEXT NOT NULL, name TEXT NOT NULL, argv TEXT NOT NULL, started_at REAL NOT NULL,
    PRIMARY KEY (node, name));
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_NODE_COLUMNS = "cluster, name, grp, idx, address, powered_on, cpu, memory_mb"


def _info(row: Sequence[object]) -> NodeInfo:
    cluster, name, group, index, address, powered_on, cpu, memory_mb = row
    return NodeInfo(cluster=str(cluster), name=str(name), group=str(group), index=int(index),
                    provider_id=f"sim-{name}", address=str(address),
                    powered_on=bool(powered_on), cpu=int(cpu), memory_mb=int(memory_mb))


class Inventory:
    """Nodes by name with their addresses, power state, size, files and services."""

    def __init__(self, path: str | Path, subnet: ipaddress.IPv4Network):
        self.subnet = subnet
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are begun explicitly below
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA busy_timeout=30000")
            if self.path != ":memory:":
                # WAL: readers in other engines never wait for a writer; NORMAL: no fsync
                # per commit (a simulated cloud need not survive a power cut)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- nodes -----------------------------------------------------------------------

    def get(self, name: str) -> NodeInfo | None:
        rows = self._read(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE name = ?", (name,))
        return _info(rows[0]) if rows else None

    def owned(self, cluster: str, name: str) -> NodeInfo:
        info = self.get(name)
        if info is None or info.cluster != cluster:
            raise ProviderError(f"node {name} of cluster {cluster} does not exist", node=name)
        return info

    def list(self, cluster: str) -> list[NodeInfo]:
        rows = self._read(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE cluster = ? "
                          "ORDER BY grp, idx, name", (cluster,))
        return [_info(row) for row in rows]

    def create(self, request: NodeRequest) -> tuple[NodeInfo, bool]:
        """The node, made now unless it exists; (node, whether it was made now)."""
        with self._write() as db:
            row = db.execute(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE name = ?",
                             (request.name,)).fetchone()
            if row is not None:
                existing = _info(row)
                if existing.cluster != request.cluster:
                    raise ProviderError(
                        f"node {request.name} already exists and belongs to cluster "
                        f"{existing.cluster}, not {request.cluster}", node=request.name,
                        hint="node names must be unique across clusters")
                return existing, False
            address = self._allocate(db, request)
            db.execute("INSERT INTO nodes (name, cluster, grp, idx, address, powered_on, cpu, "
                       "memory_mb, created_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
                       (request.name, request.cluster, request.group, request.index, address,
                        request.cpu, request.memory_mb, time.time()))
        return NodeInfo(request.cluster, request.name, request.group, request.index,
                        f"sim-{request.name}", address, True, cpu=request.cpu,
                        memory_mb=request.memory_mb), True

    def _allocate(self, db: sqlite3.Connection, request: NodeRequest) -> str:
        """A free address of the request's pool, else the next free one of the subnet.

        The subnet is walked with a persisted cursor, so allocation costs one look-up per
        node instead of a scan of every address held (1,000-node clusters)."""

        def held(address: str) -> bool:
            return db.execute("SELECT 1 FROM nodes WHERE address = ?",
                              (address,)).fetchone() is not None

        if request.address_pool:
            for address in addresses.addresses(request.address_pool):
                if not held(str(address)):
                    return str(address)
            raise ProviderError(f"no free address left in the cluster's network "
                                f"({addresses.describe(request.address_pool)})",
                                node=request.name,
                                hint="add ipBlocks to the network or delete unused clusters")
        first, size = int(self.subnet.network_address), self.subnet.num_addresses
        row = db.execute("SELECT value FROM counters WHERE name = 'next_address'").fetchone()
        cursor = int(row[0]) if row else 1
        for step in range(size):
            offset = (cursor + step) % size
            candidate = ipaddress.IPv4Address(first + offset)
            # skip the subnet's own network and broadcast addresses and every .0 / .255
            if offset in (0, size - 1) or int(candidate) & 0xFF in (0, 255):
                continue
            if not held(str(candidate)):
                db.execute("INSERT INTO counters (name, value) VALUES ('next_address', ?) "
                           "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                           ((offset + 1) % size,))
                return str(candidate)
        raise ProviderError(f"no free address left in {self.subnet}", node=request.name,
                            hint="delete unused clusters or give the sim provider a larger "
                                 "subnet")

    def set_power(self, cluster: str, name: str, powered_on: bool) -> NodeInfo:
        with self._write() as db:
            changed = db.execute("UPDATE nodes SET powered_on = ? WHERE name = ? AND "
                                 "cluster = ?", (int(powered_on), name, cluster)).rowcount
            if not powered_on:  # nothing runs on a machine that is off
                db.execute("DELETE FROM services WHERE node = ?", (name,))
        if not changed:
            raise ProviderError(f"node {name} of cluster {cluster} does not exist", node=name)
        return self.owned(cluster, name)

    def resize(self, cluster: str, name: str, cpu: int, memory_mb: int) -> NodeInfo:
        """New size after a reboot: the node is on and runs nothing."""
        with self._write() as db:
            changed = db.execute("UPDATE nodes SET cpu = ?, memory_mb = ?, powered_on = 1 "
                                 "WHERE name = ? AND cluster = ?",
                                 (cpu, memory_mb, name, cluster)).rowcount
            db.execute("DELETE FROM services WHERE node = ?", (name,))
        if not changed:
            raise ProviderError(f"node {name} of cluster {cluster} does not exist", node=name)
        return self.owned(cluster, name)

    def delete(self, cluster: str, name: str) -> None:
        with self._write() as db:
            row = db.execute("SELECT cluster FROM nodes WHERE name = ?", (name,)).fetchone()
            if row is None:
                return
            if row[0] != cluster:
                raise ProviderError(f"node {name} belongs to cluster {row[0]}, not {cluster}: "
                                    "not deleting it", node=name)
            for table, column in (("nodes", "name"), ("files", "node"), ("services", "node")):
                db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))

    # -- what runs on a node ---------------------------------------------------------

    def write_file(self, node: str, path: str, content: str) -> None:
        with self._write() as db:
            db.execute("INSERT INTO files (node, path, content) VALUES (?, ?, ?) "
                       "ON CONFLICT (node, path) DO UPDATE SET content = excluded.content",
                       (node, path, content))

    def read_file(self, node: str, path: str) -> str | None:
        rows = self._read("SELECT content FROM files WHERE node = ? AND path = ?", (node, path))
        return str(rows[0][0]) if rows else None

    def start_service(self, node: str, name: str, argv: Sequence[str]) -> None:
        with self._write() as db:
            # starting a running service is a no-op (it keeps its start time)
            db.execute("INSERT INTO services (node, name, argv, started_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (node, name) DO NOTHING",
                       (node, name, json.dumps(list(argv)), time.time()))

    def stop_service(self, node: str, name: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM services WHERE node = ? AND name = ?", (node, name))

    def services(self, node: str) -> list[str]:
        return sorted(str(r[0]) for r in self._read(
            "SELECT name FROM services WHERE node = ?", (node,)))

    def service_running(self, node: str, name: str) -> bool:
        return bool(self._read("SELECT 1 FROM services WHERE node = ? AND name = ?",
                               (node, name)))


class SimTransport:
    """A sim node as roles see it: files and services kept in the inventory. Nothing is
    executed: a service is a record that it runs, which ends when the node is powered
    off, rebooted to scale or deleted."""

    def __init__(self, inventory: Inventory, node: str, address: str):
        self.inventory = inventory
        self.node = node
        self.address = address

    def path(self, relative: str) -> str:
        return f"/sim/{self.node}/{relative}"

    def write_file(self, relative: str, content: str, mode: int = 0o644) -> None:
        self.inventory.write_file(self.node, relative, content)

    def read_file(self, relative: str) -> str | None:
        return self.inventory.read_file(self.node, relative)

    def run(self, argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None) -> CommandResult:
        return CommandResult(127, "", f"{argv[0] if argv else 'nothing'}: the sim provider's "
                                      "nodes are simulated and run no commands")

    def start_service(self, name: str, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None) -> None:
        self.inventory.start_service(self.node, name, argv)

    def stop_service(self, name: str, *, timeout: float = 20.0) -> None:
        self.inventory.stop_service(self.node, name)

    def service_running(self, name: str) -> bool:
        return self.inventory.service_running(self.node, name)

    def running_services(self) -> list[str]:
        return self.inventory.services(self.node)

    def service_log_tail(self, name: str, lines: int = 20) -> str:
        return ""
