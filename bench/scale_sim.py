"""Large clusters on the sim provider: is the engine as fast as the infrastructure?

For each size (10, 100 and 1,000 nodes by default) on a fresh database:

- the engine runs alone in a child process (this script with ``--engine-child``): the
  real Engine and Reconciler with the built-in roles and a SimProvider (1 s boot latency,
  a concurrency limit of 50, 0.05 s per API call), so its CPU time and peak RSS are the
  engine's own and nothing else's;
- this process serves the real API in-process (FastAPI TestClient, authenticated) on the
  same SQLite database, creates a cluster of the built-in ``sim`` type with that many
  nodes, tells the engine there is work (as the server's API does) and polls
  ``GET /v1/operations/{id}`` until it ends; it checks that the cluster is RUNNING with
  every node SERVICE_READY.

Figures per size: seconds to RUNNING; the provider's own lower bound (ceil(n / 50) waves
of boot + API latency, plus one API call to list the nodes); the engine's CPU seconds
per node (process CPU time from engine start to stop, idle polling included); its peak
RSS (VmHWM); database rows it wrote per node (INSERT/UPDATE/DELETE row counts,
counted by a SQLAlchemy listener); and the growth from 100 to 1,000 nodes of CPU per node
and rows per node (1.0 = linear). Prints one JSON object; diagnostics go to stderr.

    .venv/bin/python bench/scale_sim.py [--sizes 10,100,1000] [--inventory memory]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"over_lower_bound_s": 30.0, "cpu_ms_per_node": 5.0, "peak_rss_mb": 300.0,
           "growth_100_to_1000": 1.0}
POLL_S = 0.05
TIMEOUT_S = 600.0


def log(message: str) -> None:
    print(f"[scale_sim] {message}", file=sys.stderr, flush=True)


# -- the engine process ----------------------------------------------------------------

def engine_child(args: argparse.Namespace) -> None:
    """Run the engine until told to stop on stdin; print what it cost as JSON."""
    from sqlalchemy import event

    from ndovu.engine import Engine
    from ndovu.providers.sim import SimProvider
    from ndovu.roles.registry import builtin_roles
    from ndovu.store import Store

    store = Store(args.db)
    written = {"rows": 0, "statements": 0}
    seen: dict[int, int] = {}  # SQLite connection -> its total_changes counted so far

    @event.listens_for(store.engine, "after_cursor_execute")
    def count(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        # SQLite's own count of rows inserted, updated or deleted on the connection: exact
        # also for executemany and multi-row INSERTs, whose cursor.rowcount is not
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            written["statements"] += 1
        connection = cursor.connection
        total = connection.total_changes
        written["rows"] += total - seen.get(id(connection), 0)
        seen[id(connection)] = total

    provider = SimProvider(Path(args.state_dir), **json.loads(args.options))
    engine = Engine(store, provider, builtin_roles(), bootstrap_timeout_s=TIMEOUT_S)
    cpu_start = time.process_time()
    engine.start()
    print("ready", flush=True)
    for line in sys.stdin:  # "wake" as the API's notify does, anything else: stop
        if line.strip() != "wake":
            break
        engine.wake()
    engine.stop()
    cpu = time.process_time() - cpu_start
    print(json.dumps({"cpu_s": cpu, **written, "peak_rss_mb": peak_rss_mb()}), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM, not ru_maxrss, which Linux carries over
    from the parent across fork and exec (this bench's own API process)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- this process: the API and the measurement -----------------------------------------

def measure(size: int, args: argparse.Namespace, options: dict[str, Any]) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from ndovu import accounts
    from ndovu.api.app import create_app
    from ndovu.api.deps import ApiContext
    from ndovu.catalog import Catalog
    from ndovu.engine.planner import role_support, validate_plan
    from ndovu.roles.registry import builtin_roles
    from ndovu.store import Store

    with tempfile.TemporaryDirectory(prefix="ndovu-scale-") as tmp:
        db = f"sqlite:///{tmp}/ndovu.db"
        store = Store(db)
        store.migrate()
        accounts.create_user(store, "bench", "bench-password", is_admin=True)
        roles = builtin_roles()
        child = subprocess.Popen(
            [sys.executable, __file__, "--engine-child", "--db", db, "--state-dir", tmp,
             "--options", json.dumps(options)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        assert child.stdin is not None and child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise SystemExit("the engine process did not start; see its output above")

        def notify() -> None:
            child.stdin.write("wake\n")
            child.stdin.flush()

        app = create_app(ApiContext(
            store=store, catalog=Catalog.load(),
            validate_plan=lambda plan: validate_plan(plan, roles, "sim"),
            role_support=lambda names: role_support(names, roles, "sim", ["sim"]),
            notify=notify, provider="sim"))
        client = TestClient(app)
        token = client.post("/v1/auth/tokens", json={"username": "bench",
                                                      "password": "bench-password"})
        client.headers["Authorization"] = f"Bearer {token.json()['token']}"
        began = time.monotonic()
        r = client.post("/v1/clusters", json={
            "name": f"sim{size}", "type": "sim",
            "nodeGroups": [{"name": "sim", "instanceNum": size}],
            "configuration": {"sim_service": {"start_latency_ms": args.start_latency_ms}}})
        if r.status_code != 202:
            raise SystemExit(f"create refused: {r.status_code} {r.text}")
        op_id = r.json()["id"]
        while True:
            op = client.get(f"/v1/operations/{op_id}").json()
            if op["status"] in ("COMPLETED", "FAILED", "ABANDONED"):
                break
            if time.monotonic() - began > TIMEOUT_S:
                raise SystemExit(f"{size} nodes: not RUNNING after {TIMEOUT_S:g} s: {op}")
            time.sleep(POLL_S)
        took = time.monotonic() - began
        cluster = client.get(f"/v1/clusters/sim{size}").json()
        ready = sum(1 for g in cluster["nodeGroups"] for n in g["instances"]
                    if n["status"] == "SERVICE_READY")
        child.stdin.write("stop\n")
        child.stdin.flush()
        cost = json.loads(child.stdout.readline())
        child.wait(60)
        store.dispose()
    if op["status"] != "COMPLETED" or cluster["status"] != "RUNNING" or ready != size:
        raise SystemExit(f"{size} nodes: operation {op['status']}, cluster "
                         f"{cluster['status']}, {ready} SERVICE_READY: {op.get('errorMessage')}")
    waves = math.ceil(size / options["max_parallel"])
    bound = waves * (options["boot_latency_s"] + options["api_latency_s"]) + options[
        "api_latency_s"]
    row = {
        "nodes": size,
        "seconds_to_running": round(took, 2),
        "provider_lower_bound_s": round(bound, 2),
        "over_lower_bound_s": round(took - bound, 2),
        "engine_cpu_s": round(cost["cpu_s"], 3),
        "engine_cpu_ms_per_node": round(1000 * cost["cpu_s"] / size, 3),
        "engine_peak_rss_mb": round(cost["peak_rss_mb"], 1),
        "db_rows_written": cost["rows"],
        "db_rows_per_node": round(cost["rows"] / size, 2),
        "db_write_statements": cost["statements"],
    }
    log(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--boot-latency", type=float, default=1.0)
    parser.add_argument("--api-latency", type=float, default=0.05)
    parser.add_argument("--max-parallel", type=int, default=50)
    parser.add_argument("--start-latency-ms", type=int, default=0,
                        help="how long each simulated service takes to become healthy "
                             "(the engine polls health meanwhile)")
    parser.add_argument("--inventory", choices=("file", "memory"), default="file",
                        help="the sim provider's inventory: a SQLite file (as a server "
                             "keeps it) or in the engine's memory")
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)
    parser.add_argument("--options", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine_child:
        engine_child(args)
        return
    options = {"boot_latency_s": args.boot_latency, "api_latency_s": args.api_latency,
               "max_parallel": args.max_parallel,
               "inventory": ":memory:" if args.inventory == "memory" else "sim-inventory.db"}
    rows = [measure(int(n), args, options) for n in args.sizes.split(",")]
    by_size = {r["nodes"]: r for r in rows}
    result: dict[str, Any] = {
        "bench": "scale_sim",
        "provider": {k: v for k, v in options.items()},
        "start_latency_ms": args.start_latency_ms,
        "cpus": os.cpu_count(),
        "rows": rows,
        "targets": TARGETS,
    }
    if 100 in by_size and 1000 in by_size:
        small, large = by_size[100], by_size[1000]
        result["growth_100_to_1000"] = {
            # per node, so 1.0 means the total grows linearly with the nodes
            "cpu_per_node": round(large["engine_cpu_ms_per_node"]
                                  / small["engine_cpu_ms_per_node"], 2),
            "rows_per_node": round(large["db_rows_per_node"] / small["db_rows_per_node"], 2),
        }
        result["met"] = {
            "over_lower_bound": large["over_lower_bound_s"] <= TARGETS["over_lower_bound_s"],
            "cpu_per_node": large["engine_cpu_ms_per_node"] <= TARGETS["cpu_ms_per_node"],
            "peak_rss": large["engine_peak_rss_mb"] <= TARGETS["peak_rss_mb"],
            "growth": result["growth_100_to_1000"]["cpu_per_node"]
            <= TARGETS["growth_100_to_1000"] * 1.1,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
