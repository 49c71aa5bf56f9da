"""Deploying each runnable cluster type: ndovu versus the same processes started by hand.

For each type (zookeeper, etcd, spark, spark_ha):

(a) ndovu: a real `ndovu server` subprocess; wall time from POST /v1/clusters to the
    cluster's status RUNNING (polled every 0.1 s), then DELETE and wait for it.
(b) by hand: what ndovu rendered into each node's conf/ (and ZooKeeper's data/myid)
    copied to a fresh directory, and the very argv and environment ndovu ran (read from
    /proc/<pid>/cmdline and environ) with the node root substituted, started the way a
    careful person would: stage by stage in the same dependency order (ZooKeeper, then
    Spark masters, then workers), each stage awaited with the software's own readiness
    check (ZooKeeper `srvr` leader/follower, etcd /health, the Spark master's /json/
    status and its list of ALIVE workers); wall time until the last stage is ready.

An unmeasured ndovu warm-up deploy per type renders the configs and pays the cold start;
then both run `--runs` times in alternating order. Prints one JSON object on stdout with a
row per type; diagnostics go to stderr.
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
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
NDOVU = REPO / ".venv" / "bin" / "ndovu"
SUBNET = "127.88.0.0/16"
TARGET_RATIO = 1.25
POLL_S = 0.1
SERVER_START_TIMEOUT_S = 60.0
DEPLOY_TIMEOUT_S = 180.0
DELETE_TIMEOUT_S = 120.0
CLIENT_PORT = 2181
_MODE = re.compile(r"^Mode:\s*(\S+)", re.MULTILINE)
# what a node's processes need from its directory besides their argv and environment
COPIED = ("conf", "data/myid")


@dataclass(frozen=True)
class Stage:
    """Processes started together by hand, and awaited before the next stage."""

    marker: str  # an argv element that identifies the stage's processes
    ready: Callable[[list[Node]], bool]


class BenchError(Exception):
    """The benchmark could not measure what it set out to; the message says where."""


def log(message: str) -> None:
    print(f"[deploy_local] {message}", file=sys.stderr, flush=True)


@dataclass
class Node:
    name: str
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


ZOOKEEPER_MARKER = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
MASTER_MARKER = "org.apache.spark.deploy.master.Master"
WORKER_MARKER = "org.apache.spark.deploy.worker.Worker"


def bench_types(nodes_by_marker: dict[str, list[Node]]) -> dict[str, tuple[Stage, ...]]:
    masters = [n.address for n in nodes_by_marker.get(MASTER_MARKER, [])]
    return {
        "zookeeper": (Stage(ZOOKEEPER_MARKER, zookeeper_ready),),
        "etcd": (Stage("etcd", etcd_ready),),
        "spark": (Stage(MASTER_MARKER, spark_masters_ready),
                  Stage(WORKER_MARKER, spark_workers_ready(masters))),
        "spark_ha": (Stage(ZOOKEEPER_MARKER, zookeeper_ready),
                     Stage(MASTER_MARKER, spark_masters_ready),
                     Stage(WORKER_MARKER, spark_workers_ready(masters))),
    }


MARKERS = {"zookeeper": (ZOOKEEPER_MARKER,), "etcd": ("etcd",),
           "spark": (MASTER_MARKER, WORKER_MARKER),
           "spark_ha": (ZOOKEEPER_MARKER, MASTER_MARKER, WORKER_MARKER)}


# -- (a) ndovu -------------------------------------------------------------------------


@contextlib.contextmanager
def ndovu_server(state_dir: Path) -> Iterator[httpx.Client]:
    port = free_port()
    log_path = state_dir.parent / "server.log"
    # plain tracebacks in server.log if the server fails to start
    env = {**os.environ, "NDOVU_LOCAL_SUBNET": SUBNET, "_TYPER_STANDARD_TRACEBACK": "1"}
    env.pop("NDOVU_CONFIG", None)
    with open(log_path, "ab") as server_log:
        process = subprocess.Popen(
            [str(NDOVU), "server", "--port", str(port), "--state-dir", str(state_dir)],
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


def deploy_with_ndovu(client: httpx.Client, state_dir: Path, cluster_type: str, name: str,
                      on_running: Callable[[list[Node]], None] | None = None,
                      ) -> tuple[float, list[Node]]:
    """Create, time until RUNNING, read the nodes' argv (and call ``on_running`` while the
    cluster still exists), delete; returns the time and the nodes."""
    started = time.monotonic()
    _check(client.post("/v1/clusters", json={"name": name, "type": cluster_type}),
           f"POST cluster {name}")
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
            nodes.append(Node(instance["name"], instance["ip"], argv, root, _environ(pid),
                              marker))
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


def deploy_by_hand(nodes: list[Node], templates: Path, work: Path) -> float:
    """Start the processes stage by stage from copies of ndovu's configs; time until the
    last stage is ready."""
    processes: list[subprocess.Popen[bytes]] = []
    prepared: dict[str, list[tuple[Node, Path, list[str], dict[str, str]]]] = {}
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
        prepared.setdefault(node.marker, []).append((node, root, argv, env))
    by_marker = {marker: [item[0] for item in items] for marker, items in prepared.items()}
    cluster_type = next(t for t, markers in MARKERS.items() if set(markers) == set(prepared))
    stages = bench_types(by_marker)[cluster_type]
    try:
        started = time.monotonic()
        for stage in stages:
            for _, root, argv, env in prepared[stage.marker]:
                with open(root / "logs" / "by-hand.out", "ab") as out:
                    processes.append(subprocess.Popen(
                        argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                        stderr=subprocess.STDOUT, start_new_session=True))
            deadline = started + DEPLOY_TIMEOUT_S
            while not stage.ready(by_marker[stage.marker]):
                dead = [p.args for p in processes if p.poll() is not None]
                if dead or time.monotonic() > deadline:
                    first = prepared[stage.marker][0][1]
                    raise BenchError(f"by-hand {cluster_type} stage {stage.marker} not ready "
                                     f"(exited {len(dead)}):\n"
                                     f"{_tail(first / 'logs' / 'by-hand.out')}")
                time.sleep(POLL_S)
        return time.monotonic() - started
    finally:
        for process in processes:
            stop_popen(process)


# -- the run ---------------------------------------------------------------------------


def wait_gone(path: Path, timeout: float = 30.0) -> None:
    """Wait until no process names ``path``; then kill leftovers (ours, by pid)."""
    deadline = time.monotonic() + timeout
    while (pids := processes_under(path)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if pids:
        log(f"killing {len(pids)} leftover processes under {path}")
        kill_pids(pids)


def bench_type(client: httpx.Client, cluster_type: str, runs: int, top: Path,
               state_dir: Path) -> dict[str, Any]:
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
                                               f"{prefix}{run}")
                ndovu_s.append(seconds)
                wait_gone(state_dir / "nodes")
            else:
                work = top / f"by-hand-{cluster_type}-{run}"
                seconds = deploy_by_hand(nodes, templates, work)
                by_hand_s.append(seconds)
                wait_gone(work)
            log(f"{cluster_type}: run {run + 1}/{runs} {kind}: {seconds:.2f} s")
    ratio = statistics.median(ndovu_s) / statistics.median(by_hand_s)
    return {"type": cluster_type, "runs": runs, "nodes": len(nodes),
            "ndovu_seconds": [round(x, 3) for x in ndovu_s],
            "by_hand_seconds": [round(x, 3) for x in by_hand_s],
            "ndovu_median_s": round(statistics.median(ndovu_s), 3),
            "by_hand_median_s": round(statistics.median(by_hand_s), 3),
            "warmup_s": round(warmup_s, 3), "ratio": round(ratio, 3),
            "target_ratio": TARGET_RATIO, "meets_target": ratio <= TARGET_RATIO}


def benchmark(types: list[str], runs: int) -> dict[str, Any]:
    if shutil.which("java") is None:
        raise BenchError("java is not on PATH; run scripts/setup.sh")
    top = Path(tempfile.mkdtemp(prefix="ndovu-bench-")).resolve()
    state_dir = top / "state"
    rows = []
    try:
        with ndovu_server(state_dir) as client:
            for cluster_type in types:
                rows.append(bench_type(client, cluster_type, runs, top, state_dir))
    finally:
        wait_gone(top, timeout=5.0)
        shutil.rmtree(top, ignore_errors=True)
    return {"benchmark": "deploy_local", "runs": runs, "rows": rows,
            "meets_target": all(row["meets_target"] for row in rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurements of each (>= 1)")
    parser.add_argument("--types", default=",".join(MARKERS),
                        help=f"comma-separated cluster types [default: {','.join(MARKERS)}]")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = [t for t in types if t not in MARKERS]
    if unknown or not types:
        parser.error(f"unknown types {unknown}; choose from {', '.join(MARKERS)}")
    try:
        result = benchmark(types, args.runs)
    except BenchError as exc:
        print(json.dumps({"benchmark": "deploy_local", "error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
