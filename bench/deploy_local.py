"""Deploying each runnable cluster type: ndovu versus the same processes started by hand.

For each type (zookeeper, etcd, spark, spark_ha, kafka, cassandra, hdfs):

(a) ndovu: a real `ndovu server` subprocess serving the software depot's catalog folder
    (`--catalog-dir`: Spark, Kafka, Cassandra and Hadoop come from its tarballs); wall time from
    POST /v1/clusters to the cluster's status RUNNING (polled every 0.1 s), then DELETE
    and wait for it.
(b) by hand: what ndovu rendered into each node's conf/ (and ZooKeeper's data/myid)
    copied to a fresh directory, and the very argv and environment ndovu ran (read from
    /proc/<pid>/cmdline and environ) with the node root substituted, started the way a
    careful person would: stage by stage in the same dependency order (ZooKeeper, then
    Spark masters, then workers; ZooKeeper, then the Kafka brokers together; Cassandra's
    seeds, then its other nodes, one node at a time; the HDFS NameNode, its fresh name
    directory formatted first with the argv ndovu's role formats with, then the
    DataNodes together), each stage awaited with the software's own readiness check
    (ZooKeeper `srvr` leader/follower, etcd /health, the Spark master's /json/ status
    and its list of ALIVE workers, a Kafka Metadata answer from every broker, a CQL
    handshake with each Cassandra node and the first node's system.peers listing it, the
    NameNode's JMX: "active" with its RPC port open, then every DataNode among its
    LiveNodes and safe mode off); wall time until the last stage is ready. The software
    unpacked from the depot (outside the nodes, in the server's software folder) is the
    same tarball either way, so the by-hand processes run it where ndovu unpacked it;
    no data of ndovu's is reused.

An unmeasured ndovu warm-up deploy per type renders the configs, unpacks the depot's
software and pays the cold start; then both run `--runs` times in alternating order, with
the same node counts (a type may ask for fewer nodes than its default: COUNTS). Prints one
JSON object on stdout with a row per type; diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ndovu.roles import cql_protocol, hdfs, hdfs_jmx, kafka_protocol

REPO = Path(__file__).resolve().parent.parent
NDOVU = REPO / ".venv" / "bin" / "ndovu"
SUBNET = "127.88.0.0/16"
TARGET_RATIO = 1.25
POLL_S = 0.1
SERVER_START_TIMEOUT_S = 60.0
DEPLOY_TIMEOUT_S = 300.0
DELETE_TIMEOUT_S = 120.0
CLIENT_PORT = 2181
_MODE = re.compile(r"^Mode:\s*(\S+)", re.MULTILINE)
# what a node's processes need from its directory besides their argv and environment
COPIED = ("conf", "data/myid")
BUILD_DISTROS = REPO / "scripts" / "build-distros.sh"
# the depot tarballs (in a catalog folder's distros/) each type's software comes from
DEPOT_SOFTWARE = {"spark": "spark", "spark_ha": "spark", "kafka": "kafka",
                  "cassandra": "cassandra", "hdfs": "hadoop"}
# node groups asked for fewer nodes than the type's default (the same on both sides):
# each Cassandra node but the first joins the ring for twice its ring delay (10 s)
COUNTS: dict[str, dict[str, int]] = {"cassandra": {"Seed": 1, "Worker": 2}}
KAFKA_PORT = 9092
CQL_PORT = 9042


@dataclass(frozen=True)
class Stage:
    """Processes started together by hand (or one at a time, each awaited before the
    next), and awaited before the next stage."""

    marker: str  # an argv element that identifies the stage's processes
    ready: Callable[[list[Node]], bool]  # given the stage's nodes started so far
    group: str | None = None  # only the nodes of this node group
    one_at_a_time: bool = False
    # run (timed) before a node's process starts: (node, its by-hand root, argv, env)
    prepare: Callable[[Node, Path, list[str], dict[str, str]], None] | None = None

    def selects(self, node: Node) -> bool:
        return node.marker == self.marker and self.group in (None, node.group)


class BenchError(Exception):
    """The benchmark could not measure what it set out to; the message says where."""


def log(message: str) -> None:
    print(f"[deploy_local] {message}", file=sys.stderr, flush=True)


@dataclass
class Node:
    name: str
    group: str
    address: str
    argv: list[str]  # as ndovu ran it, node root included
    root: Path  # the node root ndovu used
    env: dict[str, str]
    marker: str


# -- processes -------------------------------------------------------------------------


def _cmdlines() -> Iterator[tuple[int, list[str]]]:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            yield int(entry.name), raw.rstrip(b"\0").decode(errors="replace").split("\0")


def processes_under(path: Path) -> list[int]:
    """Live pids whose command line names ``path`` (our own temp dirs only)."""
    marker = str(path)
    return [pid for pid, argv in _cmdlines()
            if pid != os.getpid() and any(marker in arg for arg in argv)]


def kill_pids(pids: list[int], timeout: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.05)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


def stop_popen(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def zookeeper_mode(address: str) -> str | None:
    try:
        with socket.create_connection((address, CLIENT_PORT), timeout=1.0) as sock:
            sock.sendall(b"srvr")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return None
    found = _MODE.search(answer.decode(errors="replace"))
    return found.group(1) if found else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- readiness checks, as a person would run them by hand ----------------------------------


def _http_json(url: str) -> Any:
    try:
        response = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def zookeeper_ready(nodes: list[Node]) -> bool:
    return all(zookeeper_mode(n.address) in ("leader", "follower", "standalone")
               for n in nodes)


def etcd_ready(nodes: list[Node]) -> bool:
    answers = [_http_json(f"http://{n.address}:2379/health") for n in nodes]
    return all(isinstance(a, dict) and a.get("health") in ("true", True) for a in answers)


def _master_states(addresses: list[str]) -> list[dict[str, Any]]:
    return [a for a in (_http_json(f"http://{address}:8080/json/") for address in addresses)
            if isinstance(a, dict)]


def spark_masters_ready(nodes: list[Node]) -> bool:
    states = _master_states([n.address for n in nodes])
    return (len(states) == len(nodes)
            and all(s.get("status") in ("ALIVE", "STANDBY") for s in states)
            and any(s.get("status") == "ALIVE" for s in states))


def spark_workers_ready(masters: list[str]) -> Callable[[list[Node]], bool]:
    def ready(workers: list[Node]) -> bool:
        for state in _master_states(masters):
            if state.get("status") != "ALIVE":
                continue
            alive = {w.get("host") for w in state.get("workers") or []
                     if w.get("state") == "ALIVE"}
            return all(n.address in alive for n in workers)
        return False
    return ready


def kafka_brokers_ready(brokers: list[Node]) -> bool:
    """Every broker answers a Metadata request. (Kafka 0.8.1 lists in that answer only
    the brokers that hold partitions of the topics it names: none on a new cluster, so
    the answer cannot be asked to list every broker.)"""
    for node in brokers:
        try:
            kafka_protocol.metadata(node.address, KAFKA_PORT, timeout=1.0)
        except (OSError, ValueError):
            return False
    return True


def _cql_peers(address: str) -> set[str]:
    with cql_protocol.connect(address, CQL_PORT, timeout=1.0) as cql:
        return {str(row["peer"]) for row in cql.query("SELECT peer FROM system.peers")}


def cassandra_in_ring(ring: list[Node]) -> Callable[[list[Node]], bool]:
    """The node started last is in the ring: it completes a CQL handshake (Cassandra
    opens the native port once the node is up and normal), and the first node started
    before it that answers lists it in system.peers (gossip has told the ring)."""
    def ready(started: list[Node]) -> bool:
        node = started[-1]
        try:
            with cql_protocol.connect(node.address, CQL_PORT, timeout=1.0):
                pass
        except (OSError, ValueError):
            return False
        earlier = ring[:ring.index(node)]
        for witness in earlier:
            try:
                return node.address in _cql_peers(witness.address)
            except (OSError, ValueError):
                continue
        return not earlier
    return ready


def namenode_ready(nodes: list[Node]) -> bool:
    """The NameNode's JMX says "active" and its RPC port accepts (ndovu's probe)."""
    for node in nodes:
        try:
            if hdfs_jmx.namenode_state(node.address, hdfs.HTTP_PORT) != "active":
                return False
        except (OSError, ValueError):
            return False
        try:
            with socket.create_connection((node.address, hdfs.RPC_PORT), timeout=1.0):
                pass
        except OSError:
            return False
    return True


def datanodes_ready(namenodes: list[str]) -> Callable[[list[Node]], bool]:
    """The NameNode's JMX lists every started DataNode among its LiveNodes (its
    registered address), and it is out of safe mode."""
    def ready(datanodes: list[Node]) -> bool:
        try:
            view = hdfs_jmx.namenode_view(namenodes[0], hdfs.HTTP_PORT)
        except (OSError, ValueError):
            return False
        live = {a for a, d in view.datanodes.items() if d.alive}
        return not view.safemode and all(n.address in live for n in datanodes)
    return ready


def format_namenode(node: Node, root: Path, argv: list[str], env: dict[str, str]) -> None:
    """Format the fresh name directory as ndovu's NameNode role does before a first
    start: the role's own argv (``NameNodeRole.admit``) with this node's conf folder,
    the software where the NameNode's classpath finds it, the node's environment."""
    classpath = argv[argv.index("-cp") + 1].split(":")
    home = next((entry[:-len("/jars/*")] for entry in classpath
                 if entry.endswith("/jars/*")), None)
    if home is None:
        raise BenchError(f"by-hand hdfs: no Hadoop jars/* in {node.name}'s classpath "
                         f"{classpath}")
    format_argv = hdfs.java_argv(home, hdfs.NAMENODE_CLASS, "-format", "-force",
                                 "-nonInteractive", heap=hdfs.CLIENT_HEAP,
                                 conf=str(root / hdfs.CONF), log4j=str(root / hdfs.LOG4J),
                                 client=True)
    format_env = {k: v for k, v in env.items() if k != "NDOVU_SERVICE"}
    done = subprocess.run(format_argv, cwd=root, env=format_env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=hdfs.FORMAT_TIMEOUT_S,
                          check=False)
    if done.returncode != 0:
        raise BenchError(f"by-hand hdfs: formatting {node.name}'s name directory failed "
                         f"(exit {done.returncode}): {(done.stderr + done.stdout)[-1500:]}")


ZOOKEEPER_MARKER = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
MASTER_MARKER = "org.apache.spark.deploy.master.Master"
WORKER_MARKER = "org.apache.spark.deploy.worker.Worker"
KAFKA_MARKER = "kafka.Kafka"
CASSANDRA_MARKER = "org.apache.cassandra.service.CassandraDaemon"
NAMENODE_MARKER = hdfs.NAMENODE_CLASS
DATANODE_MARKER = hdfs.DATANODE_CLASS


def bench_stages(cluster_type: str, nodes: list[Node]) -> tuple[Stage, ...]:
    """The by-hand start of ``cluster_type``'s ``nodes`` (in ndovu's order: node groups
    as the spec lists them, each group's nodes by index), in ndovu's dependency order."""
    masters = [n.address for n in nodes if n.marker == MASTER_MARKER]
    namenodes = [n.address for n in nodes if n.marker == NAMENODE_MARKER]
    return {
        "zookeeper": lambda: (Stage(ZOOKEEPER_MARKER, zookeeper_ready),),
        "etcd": lambda: (Stage("etcd", etcd_ready),),
        "spark": lambda: (Stage(MASTER_MARKER, spark_masters_ready),
                          Stage(WORKER_MARKER, spark_workers_ready(masters))),
        "spark_ha": lambda: (Stage(ZOOKEEPER_MARKER, zookeeper_ready),
                             Stage(MASTER_MARKER, spark_masters_ready),
                             Stage(WORKER_MARKER, spark_workers_ready(masters))),
        # the brokers start together once the ensemble serves (kafka_node requires
        # zookeeper; ndovu starts a stage's nodes in parallel)
        "kafka": lambda: (Stage(ZOOKEEPER_MARKER, zookeeper_ready),
                          Stage(KAFKA_MARKER, kafka_brokers_ready)),
        # seeds, then the other nodes: each node once the one before it is in the ring
        # (ndovu's cassandra roles wait for that before they start the next JVM)
        "cassandra": lambda: (
            Stage(CASSANDRA_MARKER, cassandra_in_ring(nodes), group="Seed",
                  one_at_a_time=True),
            Stage(CASSANDRA_MARKER, cassandra_in_ring(nodes), group="Worker",
                  one_at_a_time=True)),
        # the NameNode (formatted before its first start, as ndovu's role does), then the
        # DataNodes together (hadoop_datanode requires hadoop_namenode)
        "hdfs": lambda: (Stage(NAMENODE_MARKER, namenode_ready, prepare=format_namenode),
                         Stage(DATANODE_MARKER, datanodes_ready(namenodes))),
    }[cluster_type]()


MARKERS = {"zookeeper": (ZOOKEEPER_MARKER,), "etcd": ("etcd",),
           "spark": (MASTER_MARKER, WORKER_MARKER),
           "spark_ha": (ZOOKEEPER_MARKER, MASTER_MARKER, WORKER_MARKER),
           "kafka": (ZOOKEEPER_MARKER, KAFKA_MARKER),
           "cassandra": (CASSANDRA_MARKER,),
           "hdfs": (NAMENODE_MARKER, DATANODE_MARKER)}


# -- (a) ndovu -------------------------------------------------------------------------


@contextlib.contextmanager
def ndovu_server(state_dir: Path, catalog_dirs: list[Path]) -> Iterator[httpx.Client]:
    port = free_port()
    log_path = state_dir.parent / "server.log"
    # plain tracebacks in server.log if the server fails to start
    env = {**os.environ, "NDOVU_LOCAL_SUBNET": SUBNET, "_TYPER_STANDARD_TRACEBACK": "1"}
    env.pop("NDOVU_CONFIG", None)
    with open(log_path, "ab") as server_log:
        process = subprocess.Popen(
            [str(NDOVU), "server", "--port", str(port), "--state-dir", str(state_dir),
             *(arg for folder in catalog_dirs for arg in ("--catalog-dir", str(folder)))],
            env=env, stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT,
            start_new_session=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchError(f"ndovu server exited with {process.returncode}:\n"
                                 f"{_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/v1/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"ndovu server did not answer GET /v1/health within "
                                 f"{SERVER_START_TIMEOUT_S:g} s:\n{_tail(log_path)}")
            time.sleep(POLL_S)
        # log in as the admin the first start created
        password = (state_dir / "initial-admin-password").read_text().strip()
        token = _check(client.post("/v1/auth/tokens",
                                   json={"username": "admin", "password": password}),
                       "POST /v1/auth/tokens")["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client
    finally:
        client.close()
        stop_popen(process, timeout=30.0)


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        raise BenchError(f"{what} failed with {response.status_code}: {response.text}")
    return response.json()


def wait_operation(client: httpx.Client, op_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        op = _check(client.get(f"/v1/operations/{op_id}"), f"GET operation {op_id}")
        if op["status"] in ("COMPLETED", "FAILED", "ABANDONED"):
            return op
        if time.monotonic() > deadline:
            raise BenchError(f"operation {op_id} ({op['type']} {op['target']}) not finished "
                             f"after {timeout:g} s: {op['status']} {op['progress']}%")
        time.sleep(POLL_S)


def log_timeline(client: httpx.Client, name: str, posted_at: float, seconds: float) -> None:
    """ndovu's events for the cluster (what the engine did when), as seconds after the
    first one, on stderr: where a deploy's time went."""
    response = client.get(f"/v1/clusters/{name}/events")
    if response.status_code != 200:
        log(f"{name}: no events ({response.status_code})")
        return
    events = response.json()["events"]
    if not events:
        return
    stamps = [datetime.fromisoformat(e["at"]).timestamp() for e in events]
    first = stamps[0]
    lines = [f"{name}: RUNNING after {seconds:.2f} s; events, s after the first "
             f"(which came {first - posted_at:.2f} s after the POST):"]
    for at, event in zip(stamps, events, strict=True):
        took = f" ({event['durationMs']} ms)" if event.get("durationMs") is not None else ""
        lines.append(f"  {at - first:7.2f} {event.get('node') or '-':<24} {event['step']} "
                     f"{event['outcome']}{took} {(event.get('message') or '')[:100]}")
    log("\n".join(lines))


def deploy_with_ndovu(client: httpx.Client, state_dir: Path, cluster_type: str, name: str,
                      on_running: Callable[[list[Node]], None] | None = None,
                      timeline: bool = False,
                      ) -> tuple[float, list[Node]]:
    """Create, time until RUNNING, read the nodes' argv (and call ``on_running`` while the
    cluster still exists), delete; returns the time and the nodes."""
    body: dict[str, Any] = {"name": name, "type": cluster_type}
    if cluster_type in COUNTS:
        body["nodeGroups"] = [{"name": group, "instanceNum": count}
                              for group, count in COUNTS[cluster_type].items()]
    started, posted_at = time.monotonic(), time.time()
    _check(client.post("/v1/clusters", json=body), f"POST cluster {name}")
    deadline = started + DEPLOY_TIMEOUT_S
    try:
        while True:
            cluster = _check(client.get(f"/v1/clusters/{name}"), f"GET cluster {name}")
            if cluster["status"] == "RUNNING":
                seconds = time.monotonic() - started
                break
            op = cluster.get("operation") or {}
            if cluster["status"] in ("PROVISION_ERROR", "ERROR") or op.get("status") in (
                    "FAILED", "ABANDONED"):
                raise BenchError(f"cluster {name} failed: {cluster.get('errorMessage')} / "
                                 f"{op.get('errorMessage')}")
            if time.monotonic() > deadline:
                raise BenchError(f"cluster {name} not RUNNING after {DEPLOY_TIMEOUT_S:g} s "
                                 f"(status {cluster['status']})")
            time.sleep(POLL_S)
        nodes = _running_nodes(cluster, state_dir, MARKERS[cluster_type])
        if on_running is not None:
            on_running(nodes)
        if timeline:
            log_timeline(client, name, posted_at, seconds)
    finally:
        delete_cluster(client, name)
    return seconds, nodes


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if item)
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def _running_nodes(cluster: dict[str, Any], state_dir: Path,
                   markers: tuple[str, ...]) -> list[Node]:
    """Each node's main process (the one whose argv holds a stage marker), with its argv
    and environment; a JVM started through a launcher script is found by its class."""
    nodes = []
    for group in cluster["nodeGroups"]:
        for instance in group["instances"]:
            root = state_dir.resolve() / "nodes" / instance["name"]
            found = next(((pid, argv, marker) for pid, argv in _cmdlines()
                          for marker in markers
                          if (marker in argv or Path(argv[0]).name == marker)
                          and any(str(root) in a for a in argv)), None)
            if found is None:
                raise BenchError(f"no process of node {instance['name']} found in /proc "
                                 f"(looked for {markers} with {root} in the command line)")
            pid, argv, marker = found
            nodes.append(Node(instance["name"], group["name"], instance["ip"], argv, root,
                              _environ(pid), marker))
    return nodes


def delete_cluster(client: httpx.Client, name: str) -> None:
    response = client.delete(f"/v1/clusters/{name}")
    if response.status_code == 404:
        return
    op = _check(response, f"DELETE cluster {name}")
    final = wait_operation(client, int(op["id"]), DELETE_TIMEOUT_S)
    if final["status"] != "COMPLETED":
        raise BenchError(f"deleting {name} ended {final['status']}: {final['errorMessage']}")


def capture_configs(nodes: list[Node], templates: Path) -> None:
    """Copy what ndovu rendered for each node (while the cluster still exists)."""
    for node in nodes:
        for relative in COPIED:
            source, target = node.root / relative, templates / node.name / relative
            if source.is_dir():
                shutil.copytree(source, target)
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)


# -- (b) by hand -----------------------------------------------------------------------


def _rebase(text: str, node: Node, root: Path) -> str:
    return text.replace(str(node.root), str(root))


def _stop_stage(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the stage's processes together, then wait for each (SIGKILL if stuck)."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        stop_popen(process, timeout=30.0)


def deploy_by_hand(cluster_type: str, nodes: list[Node], templates: Path,
                   work: Path, timeline: bool = False) -> float:
    """Start the processes stage by stage from copies of ndovu's configs; time until the
    last stage is ready. Stopped afterwards in the reverse order (a Kafka broker whose
    ZooKeeper has gone hangs on SIGTERM)."""
    prepared: dict[str, tuple[Path, list[str], dict[str, str]]] = {}
    for node in nodes:
        root = work / node.name
        # data dirs are left to the software (etcd insists on creating its own, 0700)
        (root / "logs").mkdir(parents=True)
        for path in (templates / node.name).rglob("*"):
            if path.is_file():
                target = root / path.relative_to(templates / node.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(_rebase(path.read_text(), node, root))
        argv = [_rebase(arg, node, root) for arg in node.argv]
        env = {k: _rebase(v, node, root) for k, v in node.env.items()}
        prepared[node.name] = (root, argv, env)
    stages = bench_stages(cluster_type, nodes)
    unstaged = [n.name for n in nodes if not any(stage.selects(n) for stage in stages)]
    if unstaged:
        raise BenchError(f"by-hand {cluster_type}: no stage starts {unstaged}")
    running: list[list[subprocess.Popen[bytes]]] = []
    owners: dict[int, Node] = {}
    steps: list[str] = []
    try:
        started = time.monotonic()
        deadline = started + DEPLOY_TIMEOUT_S
        for stage in stages:
            members = [n for n in nodes if stage.selects(n)]
            processes: list[subprocess.Popen[bytes]] = []
            running.append(processes)
            up: list[Node] = []
            for batch in ([[n] for n in members] if stage.one_at_a_time else [members]):
                for node in batch:
                    root, argv, env = prepared[node.name]
                    if stage.prepare is not None:
                        stage.prepare(node, root, argv, env)
                    with open(root / "logs" / "by-hand.out", "ab") as out:
                        process = subprocess.Popen(
                            argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
                    processes.append(process)
                    owners[process.pid] = node
                up += batch
                steps.append(f"  {time.monotonic() - started:7.2f} started "
                             f"{', '.join(n.name for n in batch)}")
                while not stage.ready(up):
                    dead = [owners[p.pid] for group in running for p in group
                            if p.poll() is not None]
                    if dead or time.monotonic() > deadline:
                        shown = dead[0] if dead else up[-1]
                        log_path = prepared[shown.name][0] / "logs" / "by-hand.out"
                        raise BenchError(
                            f"by-hand {cluster_type}: {[n.name for n in up]} "
                            f"({stage.marker}) not ready after "
                            f"{time.monotonic() - started:.0f} s; exited: "
                            f"{[n.name for n in dead]}; {shown.name}'s log:\n"
                            f"{_tail(log_path)}")
                    time.sleep(POLL_S)
                steps.append(f"  {time.monotonic() - started:7.2f} ready "
                             f"{', '.join(n.name for n in up)}")
        seconds = time.monotonic() - started
        if timeline:
            log(f"by-hand {cluster_type}: ready after {seconds:.2f} s:\n" + "\n".join(steps))
        return seconds
    finally:
        for processes in reversed(running):
            _stop_stage(processes)


# -- the run ---------------------------------------------------------------------------


def wait_gone(path: Path, timeout: float = 30.0) -> None:
    """Wait until no process names ``path``; then kill leftovers (ours, by pid)."""
    deadline = time.monotonic() + timeout
    while (pids := processes_under(path)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if pids:
        log(f"killing {len(pids)} leftover processes under {path}")
        kill_pids(pids)


DEPOT_HINT = ("build the depot's distributions with `bash scripts/build-distros.sh "
              "[FOLDER]` (it prints the folder; default ~/.cache/ndovu/distros) and pass "
              "that folder with --catalog-dir FOLDER")


def catalog_dirs(types: list[str], given: list[Path] | None) -> list[Path]:
    """The catalog folders the server serves: those given, else (when a type runs from
    the depot) build-distros.sh's default folder if it holds the tarballs, else the
    folder that script builds."""
    if given:
        for folder in given:
            if not (folder / "distros").is_dir():
                raise BenchError(f"--catalog-dir {folder} has no distros/ folder; "
                                 f"{DEPOT_HINT}")
        return [folder.resolve() for folder in given]
    needed = sorted({DEPOT_SOFTWARE[t] for t in types if t in DEPOT_SOFTWARE})
    if not needed:
        return []
    default = Path(os.environ.get("NDOVU_DISTROS_DIR")
                   or Path.home() / ".cache" / "ndovu" / "distros")
    if all(any((default / "distros" / name).glob("*.tgz")) for name in needed):
        return [default.resolve()]
    log(f"no {', '.join(needed)} tarballs in {default}: running bash {BUILD_DISTROS}")
    try:
        built = subprocess.run(["bash", str(BUILD_DISTROS)], capture_output=True,
                               text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{BUILD_DISTROS} took over 900 s; {DEPOT_HINT}") from None
    lines = built.stdout.strip().splitlines()
    if built.returncode != 0 or not lines:
        raise BenchError(f"{BUILD_DISTROS} failed (exit {built.returncode}): "
                         f"{built.stderr.strip()[-1500:]}\nTo measure {', '.join(types)}, "
                         f"{DEPOT_HINT}")
    return [Path(lines[-1]).resolve()]


def check_runnable(client: httpx.Client, cluster_type: str) -> None:
    """The server can run the type (its depot software is there), and COUNTS are within
    the type's node-group ranges; else a BenchError saying what to do."""
    entry = _check(client.get(f"/v1/catalog/{cluster_type}"), f"GET catalog {cluster_type}")
    if not entry.get("runnableHere"):
        hint = f"; {DEPOT_HINT}" if cluster_type in DEPOT_SOFTWARE else ""
        raise BenchError(f"cluster type {cluster_type} cannot run on this server: "
                         f"{entry.get('notRunnableReason')}{hint}")
    ranges = {g["name"]: g["instanceNum"] for g in entry["nodeGroups"]}
    for group, count in COUNTS.get(cluster_type, {}).items():
        allowed = ranges.get(group)
        if allowed is None or count < allowed["min"] or (
                allowed["max"] is not None and count > allowed["max"]):
            raise BenchError(f"{cluster_type}: {count} nodes in group {group} is outside "
                             f"the type's range {allowed} (groups: {sorted(ranges)})")


def bench_type(client: httpx.Client, cluster_type: str, runs: int, top: Path,
               state_dir: Path, timeline: bool = False) -> dict[str, Any]:
    check_runnable(client, cluster_type)
    templates = top / f"templates-{cluster_type}"
    ndovu_s: list[float] = []
    by_hand_s: list[float] = []
    prefix = f"b{cluster_type.replace('_', '')}"
    # an unmeasured warm-up deploy renders the configs the by-hand runs reuse and takes
    # the cold JVM and page-cache start that neither side should be billed for
    warmup_s, nodes = deploy_with_ndovu(client, state_dir, cluster_type, f"{prefix}_warmup",
                                        lambda found: capture_configs(found, templates))
    wait_gone(state_dir / "nodes")
    log(f"{cluster_type}: warm-up ndovu {warmup_s:.2f} s")
    for run in range(runs):
        order = ("ndovu", "by_hand") if run % 2 == 0 else ("by_hand", "ndovu")
        for kind in order:
            if kind == "ndovu":
                seconds, _ = deploy_with_ndovu(client, state_dir, cluster_type,
                                               f"{prefix}{run}", timeline=timeline)
                ndovu_s.append(seconds)
                wait_gone(state_dir / "nodes")
            else:
                work = top / f"by-hand-{cluster_type}-{run}"
                seconds = deploy_by_hand(cluster_type, nodes, templates, work, timeline)
                by_hand_s.append(seconds)
                wait_gone(work)
            log(f"{cluster_type}: run {run + 1}/{runs} {kind}: {seconds:.2f} s")
    ratio = statistics.median(ndovu_s) / statistics.median(by_hand_s)
    groups: dict[str, int] = {}
    for node in nodes:
        groups[node.group] = groups.get(node.group, 0) + 1
    return {"type": cluster_type, "runs": runs, "nodes": len(nodes), "groups": groups,
            "ndovu_seconds": [round(x, 3) for x in ndovu_s],
            "by_hand_seconds": [round(x, 3) for x in by_hand_s],
            "ndovu_median_s": round(statistics.median(ndovu_s), 3),
            "by_hand_median_s": round(statistics.median(by_hand_s), 3),
            "warmup_s": round(warmup_s, 3), "ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO, "meets_target": ratio <= TARGET_RATIO}


def benchmark(types: list[str], runs: int, given_catalogs: list[Path] | None = None,
              timeline: bool = False) -> dict[str, Any]:
    if shutil.which("java") is None:
        raise BenchError("java is not on PATH; run scripts/setup.sh")
    catalogs = catalog_dirs(types, given_catalogs)
    top = Path(tempfile.mkdtemp(prefix="ndovu-bench-")).resolve()
    state_dir = top / "state"
    rows = []
    try:
        with ndovu_server(state_dir, catalogs) as client:
            for cluster_type in types:
                rows.append(bench_type(client, cluster_type, runs, top, state_dir,
                                       timeline))
    finally:
        wait_gone(top, timeout=5.0)
        shutil.rmtree(top, ignore_errors=True)
    return {"benchmark": "deploy_local", "runs": runs,
            "catalog_dirs": [str(folder) for folder in catalogs], "rows": rows,
            "meets_target": all(row["meets_target"] for row in rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurements of each (>= 1)")
    parser.add_argument("--types", default=",".join(MARKERS),
                        help=f"comma-separated cluster types [default: {','.join(MARKERS)}]")
    parser.add_argument("--catalog-dir", type=Path, action="append", dest="catalog_dirs",
                        metavar="FOLDER",
                        help="a catalog folder holding the depot's tarballs, passed to the "
                             "server (repeat for several) [default: the folder "
                             "scripts/build-distros.sh prints; it is run when its default "
                             "folder lacks a tarball a chosen type needs]")
    parser.add_argument("--timeline", action="store_true",
                        help="log each measured ndovu deploy's events (what the engine did "
                             "when) to stderr")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = [t for t in types if t not in MARKERS]
    if unknown or not types:
        parser.error(f"unknown types {unknown}; choose from {', '.join(MARKERS)}")
    try:
        result = benchmark(types, args.runs, args.catalog_dirs, args.timeline)
    except BenchError as exc:
        print(json.dumps({"benchmark": "deploy_local", "error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
