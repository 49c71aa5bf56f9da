"""Watching clusters at rest on the sim provider: what it costs, and how soon it tells.

Two real `ndovu server` processes run side by side, each with its own state directory,
the `sim` provider (its inventory a SQLite file, as a server keeps it) and the same
``--clusters`` clusters of the built-in `sim` type with ``--nodes`` nodes each (100 x 10
= 1,000 nodes by default), created through the API and waited for until RUNNING:

- "observe" runs with ``--observe-interval INTERVAL`` (5 s by default): every cluster at
  rest is looked at once an interval (the provider's list of its nodes, each node's
  ``sim_service`` health probe);
- "off" runs with ``--observe-interval 0``: the same server, the same clusters, nothing
  watched.

(a) CPU: after the clusters have been at rest for ``--settle`` intervals, both servers'
    CPU time (utime + stime of the whole process, from /proc/<pid>/stat) is read at the
    same moments, over ``--rounds`` windows of ``--intervals`` intervals each, with no
    API request to either. Observation's cost is the difference, per node and per
    interval: (observe CPU - off CPU) / (nodes x window / interval), in ms. The sim
    provider's own bookkeeping (its SQLite inventory, read for the node list and for
    every probe) runs in the server process and is counted, as on a real cloud the
    provider's client would be.
(b) Detection: ``--trials`` times, on a different cluster each (chosen at random with
    ``--seed``), at a random moment (a uniform pause of up to one interval), one node's
    service is stopped behind ndovu's back, through the sim provider's inventory (the
    simulated cloud's own record of what runs on its machines: the node keeps running,
    its ``sim_service`` probe now fails, as when a process exits); then GET
    /v1/clusters/{name} is polled every 0.05 s until the node shows SERVICE_UNHEALTHY.
    The seconds from the stop to that answer, as a multiple of the interval: median
    and max.

Targets (issue 15): at most 0.5 ms CPU per node per interval, detection within 1.5
intervals. Everything is bounded: the set-up, each trial (4 intervals), the run. Prints
one JSON object on stdout; diagnostics go to stderr.

    .venv/bin/python bench/observe_sim.py [--clusters 100] [--nodes 10] [--interval 5]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ndovu.providers.sim_inventory import Inventory
from ndovu.roles.sim import SERVICE

REPO = Path(__file__).resolve().parent.parent
NDOVU = Path(sys.executable).parent / "ndovu"
TARGETS = {"cpu_ms_per_node_per_interval": 0.5, "detection_x_interval": 1.5}
# the sim provider's options on both servers: its default latencies and concurrency, a
# short boot so that the thousand nodes are made quickly (booting is not what is measured)
PROVIDER = {"boot_latency_s": 0.2, "api_latency_s": 0.05, "max_parallel": 50}
SUBNET = "10.0.0.0/8"  # the sim provider's default subnet (the inventory needs it)
START_TIMEOUT_S = 60.0
CREATE_TIMEOUT_S = 600.0
TRIAL_INTERVALS = 4.0  # a trial gives up after this many intervals
RUN_TIMEOUT_S = 1800.0
DETECT_POLL_S = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark could not measure what it set out to; the message says where."""


def log(message: str) -> None:
    print(f"[observe_sim] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise BenchError(f"{what} failed with {response.status_code}: {response.text[:500]}")
    return response.json()


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
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


class Server:
    """A `ndovu server` on the sim provider, in its own session, logged in as admin."""

    def __init__(self, label: str, top: Path, interval: float):
        self.label = label
        self.state_dir = top / label
        self.log_path = top / f"{label}.log"
        self.interval = interval
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None
        self.client: httpx.Client | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
        env["_TYPER_STANDARD_TRACEBACK"] = "1"
        argv = [str(NDOVU), "server", "--state-dir", str(self.state_dir),
                "--port", self.url.rsplit(":", 1)[1], "--provider", "sim",
                "--observe-interval", f"{self.interval:g}",
                *(arg for key, value in PROVIDER.items()
                  for arg in ("--provider-option", f"{key}={json.dumps(value)}"))]
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def login(self) -> httpx.Client:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise BenchError(f"{self.label} server exited with "
                                 f"{self.process.returncode}:\n{_tail(self.log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{self.label} server did not answer within "
                                 f"{START_TIMEOUT_S:g} s:\n{_tail(self.log_path)}")
            time.sleep(0.1)
        password = (self.state_dir / "initial-admin-password").read_text().strip()
        self.client = httpx.Client(base_url=self.url, timeout=30)
        token = _check(self.client.post("/v1/auth/tokens", json={
            "username": "admin", "password": password}), "POST /v1/auth/tokens")["token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        return self.client

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.process is not None:
            stop(self.process)


@contextlib.contextmanager
def servers(top: Path, interval: float) -> Iterator[tuple[Server, Server]]:
    observe, off = Server("observe", top, interval), Server("off", top, 0.0)
    try:
        observe.start()
        off.start()
        observe.login()
        off.login()
        yield observe, off
    except BenchError:
        for server in (observe, off):
            log(f"{server.label} server log (tail):\n{_tail(server.log_path)}")
        raise
    finally:
        observe.stop()
        off.stop()


def cluster_name(i: int) -> str:
    return f"obs{i:03d}"


def create_clusters(server: Server, clusters: int, nodes: int) -> None:
    assert server.client is not None
    for i in range(clusters):
        _check(server.client.post("/v1/clusters", json={
            "name": cluster_name(i), "type": "sim",
            "nodeGroups": [{"name": "sim", "instanceNum": nodes}],
            "configuration": {SERVICE: {"start_latency_ms": 0}}}),
            f"{server.label}: POST /v1/clusters {cluster_name(i)}")


def wait_running(server: Server, clusters: int, deadline: float) -> None:
    """Every cluster RUNNING (none failed), polled once a second."""
    assert server.client is not None
    while True:
        listed = _check(server.client.get("/v1/clusters"), "GET /v1/clusters")["clusters"]
        statuses: dict[str, int] = {}
        for cluster in listed:
            statuses[cluster["status"]] = statuses.get(cluster["status"], 0) + 1
        if len(listed) == clusters and statuses.get("RUNNING") == clusters:
            return
        failed = [c["name"] for c in listed
                  if c["status"] in ("PROVISION_ERROR", "ERROR", "SERVICE_WARNING",
                                     "SERVICE_STOPPED")]
        if failed:
            raise BenchError(f"{server.label}: clusters {failed[:5]} ended unwell: {statuses}")
        if time.monotonic() > deadline:
            raise BenchError(f"{server.label}: not every cluster RUNNING in time: {statuses}")
        time.sleep(1.0)


def measure_cpu(observe: Server, off: Server, window_s: float, nodes: int,
                interval: float) -> dict[str, Any]:
    """Both servers' CPU over the same window; observation's share per node per interval."""
    before = (cpu_seconds(observe.pid), cpu_seconds(off.pid), time.monotonic())
    time.sleep(window_s)
    after = (cpu_seconds(observe.pid), cpu_seconds(off.pid), time.monotonic())
    wall = after[2] - before[2]
    observe_cpu, off_cpu = after[0] - before[0], after[1] - before[1]
    intervals = wall / interval
    return {"wall_s": round(wall, 2), "observe_cpu_s": round(observe_cpu, 3),
            "off_cpu_s": round(off_cpu, 3),
            "observe_cpu_share": round(observe_cpu / wall, 4),
            "off_cpu_share": round(off_cpu / wall, 4),
            "ms_per_node_per_interval": round(
                1000 * (observe_cpu - off_cpu) / (nodes * intervals), 4),
            # the whole observing server's CPU, idle loop and API included: an upper bound
            "observe_total_ms_per_node_per_interval": round(
                1000 * observe_cpu / (nodes * intervals), 4)}


def node_status(cluster: dict[str, Any], node: str) -> tuple[str, str | None]:
    for group in cluster["nodeGroups"]:
        for instance in group["instances"]:
            if instance["name"] == node:
                return instance["status"], instance.get("errMessage")
    raise BenchError(f"node {node} is not in cluster {cluster['name']}")


def detect(server: Server, inventory: Inventory, name: str, rng: random.Random,
           interval: float) -> dict[str, Any]:
    """Stop one node's service at a random moment; time until the API shows it."""
    assert server.client is not None
    cluster = _check(server.client.get(f"/v1/clusters/{name}"), f"GET cluster {name}")
    instances = [i for g in cluster["nodeGroups"] for i in g["instances"]]
    if cluster["status"] != "RUNNING" or any(i["status"] != "SERVICE_READY"
                                             for i in instances):
        raise BenchError(f"cluster {name} is not RUNNING with every node ready before the "
                         f"trial: {cluster['status']}")
    node = rng.choice(instances)["name"]
    time.sleep(rng.uniform(0.0, interval))  # a random moment in the observer's cycle
    inventory.stop_service(node, SERVICE)
    failed_at = time.monotonic()
    deadline = failed_at + TRIAL_INTERVALS * interval
    while True:
        seen = _check(server.client.get(f"/v1/clusters/{name}"), f"GET cluster {name}")
        status, message = node_status(seen, node)
        now = time.monotonic()
        if status == "SERVICE_UNHEALTHY":
            seconds = now - failed_at
            return {"cluster": name, "node": node, "seconds": round(seconds, 3),
                    "x_interval": round(seconds / interval, 3),
                    "cluster_status": seen["status"], "message": message}
        if now > deadline:
            return {"cluster": name, "node": node, "seconds": None, "x_interval": None,
                    "cluster_status": seen["status"],
                    "message": f"still {status} after {TRIAL_INTERVALS:g} intervals"}
        time.sleep(DETECT_POLL_S)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    nodes = args.clusters * args.nodes
    interval = args.interval
    run_deadline = time.monotonic() + RUN_TIMEOUT_S
    top = Path(tempfile.mkdtemp(prefix="ndovu-observe-")).resolve()
    try:
        with servers(top, interval) as (observe, off):
            began = time.monotonic()
            log(f"creating {args.clusters} clusters of {args.nodes} sim nodes on both "
                "servers")
            create_clusters(observe, args.clusters, args.nodes)
            create_clusters(off, args.clusters, args.nodes)
            deadline = began + CREATE_TIMEOUT_S
            wait_running(observe, args.clusters, deadline)
            wait_running(off, args.clusters, deadline)
            created_s = time.monotonic() - began
            log(f"all {nodes} nodes RUNNING on both after {created_s:.1f} s; at rest for "
                f"{args.settle:g} intervals")
            time.sleep(args.settle * interval)
            rounds = []
            for i in range(args.rounds):
                row = measure_cpu(observe, off, args.intervals * interval, nodes, interval)
                rounds.append(row)
                log(f"round {i + 1}/{args.rounds}: observe {row['observe_cpu_s']} s, off "
                    f"{row['off_cpu_s']} s CPU in {row['wall_s']} s -> "
                    f"{row['ms_per_node_per_interval']} ms per node per interval")
            # nothing changed while at rest: still every cluster RUNNING on both
            wait_running(observe, args.clusters, time.monotonic() + 10)
            off.stop()  # the detection trials need only the observing server
            inventory = Inventory(observe.state_dir / "sim-inventory.db",
                                  ipaddress.IPv4Network(SUBNET))
            rng = random.Random(args.seed)
            chosen = rng.sample(range(args.clusters), min(args.trials, args.clusters))
            trials = []
            try:
                for i, index in enumerate(chosen):
                    if time.monotonic() > run_deadline:
                        log(f"run deadline ({RUN_TIMEOUT_S:g} s) reached after {i} trials")
                        break
                    trial = detect(observe, inventory, cluster_name(index), rng, interval)
                    trials.append(trial)
                    log(f"trial {i + 1}/{len(chosen)}: {trial['node']} -> "
                        f"{trial['seconds']} s ({trial['x_interval']} x interval), cluster "
                        f"{trial['cluster_status']}: {trial['message']}")
            finally:
                inventory.close()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    cpu = statistics.median(r["ms_per_node_per_interval"] for r in rounds)
    seen = [t["x_interval"] for t in trials if t["x_interval"] is not None]
    missed = len(trials) - len(seen)
    median_x = statistics.median(seen) if seen else None
    max_x = max(seen) if seen else None
    meets = {"cpu": cpu <= TARGETS["cpu_ms_per_node_per_interval"],
             "detection": bool(trials) and not missed
             and max_x is not None and max_x <= TARGETS["detection_x_interval"]}
    return {
        "benchmark": "observe_sim",
        "provider": {"name": "sim", **PROVIDER, "inventory": "sim-inventory.db"},
        "clusters": args.clusters, "nodes_per_cluster": args.nodes, "nodes": nodes,
        "observe_interval_s": interval, "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "seconds_to_create": round(created_s, 1),
        "cpu": {
            "window_s": args.intervals * interval, "rounds": rounds,
            "ms_per_node_per_interval": round(cpu, 4),
            "observe_cpu_share_median": round(statistics.median(
                r["observe_cpu_share"] for r in rounds), 4),
            "off_cpu_share_median": round(statistics.median(
                r["off_cpu_share"] for r in rounds), 4),
        },
        "detection": {
            "trials": len(trials), "missed": missed,
            "seconds": [t["seconds"] for t in trials],
            "median_s": round(statistics.median(
                t["seconds"] for t in trials if t["seconds"] is not None), 3) if seen else None,
            "median_x_interval": round(median_x, 3) if median_x is not None else None,
            "max_x_interval": round(max_x, 3) if max_x is not None else None,
            "example_message": trials[0]["message"] if trials else None,
            "cluster_statuses": sorted({t["cluster_status"] for t in trials}),
        },
        "targets": TARGETS,
        "met": meets,
        "meets_target": all(meets.values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=10, help="nodes per cluster")
    parser.add_argument("--interval", type=float, default=5.0,
                        help="the observing server's --observe-interval, in seconds")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="intervals at rest before the CPU is measured")
    parser.add_argument("--intervals", type=int, default=4,
                        help="intervals per CPU measurement round")
    parser.add_argument("--rounds", type=int, default=3, help="CPU measurement rounds")
    parser.add_argument("--trials", type=int, default=10,
                        help="detection trials, each on another cluster")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)
    if min(args.clusters, args.nodes, args.intervals, args.rounds, args.trials) < 1 or (
            args.interval <= 0 or args.settle < 0):
        parser.error("counts must be at least 1 and --interval above 0")
    try:
        result = benchmark(args)
    except BenchError as exc:
        print(json.dumps({"benchmark": "observe_sim", "error": str(exc)}))
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
