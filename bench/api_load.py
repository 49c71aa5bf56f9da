"""Reading a cluster under load: ndovu's GET /v1/clusters/{name} versus a bare endpoint.

(a) ndovu: a real `ndovu server` subprocess (engine included, SQLite, the local provider
    on 127.93.0.0/16) with a real 3-node ZooKeeper cluster, RUNNING; every request
    carries the admin's bearer token, so authentication is part of what is measured.
(b) bare: bench/bare_endpoint.py, FastAPI + SQLite serving the very bytes ndovu answered
    (fetched once, stored in one table row) the way its docstring says a developer would
    (a plain ``def`` route, one SQLAlchemy Core SELECT by primary key, the stored text
    returned as it is), under the same uvicorn settings, in its own process.

The load comes from bench/load_client.py in a third process: ``--clients`` keep-alive
connections on loopback, each sending its next GET as soon as it has read the last answer,
for ``--seconds`` per side, split into ``--rounds`` that alternate the two sides (so a
burst of noise on the machine falls on both), each round capped at ``--max-requests``
and preceded by an unmeasured second of warm-up. Every answer must be a 200 with the
expected body.

Figures: requests per second and p50/p99 latency of each side, pooled over the rounds, and
the ratios ndovu/bare (target: rps ratio >= 1.0; latency ratios below 1 are better). To
show the load generator was not the bottleneck, each side reports the generator's CPU
share (well under one core: it was waiting for the server; ``generator_saturated`` says
if it was not) and the server's. The server CPU per request, and its ratio, are the
figure least moved by other work on the machine (two cores here: the servers, the
generator and three JVMs share them). Prints one JSON object on stdout; diagnostics go
to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
NDOVU = Path(sys.executable).parent / "ndovu"
SUBNET = "127.93.0.0/16"
CLUSTER = "loadzk"
TARGET_RATIO = 1.0
# the share of a core above which the load generator could itself be what limits the rate
GENERATOR_SATURATED = 0.8
START_TIMEOUT_S = 60.0
DEPLOY_TIMEOUT_S = 180.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The benchmark could not measure what it set out to; the message says where."""


def log(message: str) -> None:
    print(f"[api_load] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


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


@contextlib.contextmanager
def serving(argv: list[str], url: str, log_path: Path, health: str,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A server process (its own session, so a stop reaches all of it), once it answers."""
    with log_path.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise BenchError(f"{argv[0]} exited with {process.returncode}:\n"
                                 f"{_tail(log_path)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + health, timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{url} did not answer within {START_TIMEOUT_S:g} s:\n"
                                 f"{_tail(log_path)}")
            time.sleep(0.1)
        yield process
    finally:
        stop(process)


def kill_leftovers(top: Path) -> None:
    """Node processes still running under ``top`` (a failed run, or a delete that did not
    finish), by their command line: the bench leaves nothing behind."""
    mine = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if str(top) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    mine.append(int(entry.name))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in mine:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if sig == signal.SIGTERM and mine:
            time.sleep(2)


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise BenchError(f"{what} failed with {response.status_code}: {response.text}")
    return response.json()


def deploy(client: httpx.Client) -> None:
    """A 3-node ZooKeeper cluster, waited for until RUNNING."""
    op = _check(client.post("/v1/clusters", json={"name": CLUSTER, "type": "zookeeper"}),
                "POST /v1/clusters")
    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while True:
        op = _check(client.get(f"/v1/operations/{op['id']}"), "GET operation")
        if op["status"] in ("COMPLETED", "FAILED", "ABANDONED"):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"the cluster was not created within {DEPLOY_TIMEOUT_S:g} s")
        time.sleep(0.2)
    cluster = _check(client.get(f"/v1/clusters/{CLUSTER}"), "GET cluster")
    if op["status"] != "COMPLETED" or cluster["status"] != "RUNNING":
        raise BenchError(f"the cluster ended {cluster['status']}: {op.get('errorMessage')}")
    nodes = sum(len(g["instances"]) for g in cluster["nodeGroups"])
    if nodes != 3:
        raise BenchError(f"expected 3 nodes, the cluster has {nodes}")


def idle_share(pid: int, seconds: float = 2.0) -> float:
    """The share of a core a server uses with no requests (ndovu's engine polls and renews
    its leases): not part of what a request costs."""
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    return (cpu_seconds(pid) - cpu0) / (time.perf_counter() - wall0)


def load(url: str, path: str, headers: list[str], expected: Path, pid: int,
         idle: float, args: argparse.Namespace) -> dict[str, Any]:
    """One round against one server: the generator's figures plus the server's CPU share."""
    argv = [sys.executable, str(BENCH / "load_client.py"), url, path,
            "--clients", str(args.clients), "--seconds", str(args.seconds / args.rounds),
            "--max-requests", str(args.max_requests), "--expect-file", str(expected),
            *(arg for h in headers for arg in ("--header", h))]
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          timeout=args.seconds + 120)
    cpu1, wall1 = cpu_seconds(pid), time.perf_counter()
    if done.returncode != 0:
        raise BenchError(f"the load generator failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    # over the generator's whole life (its start-up and warm-up too): a lower bound
    result["server_cpu_share"] = round((cpu1 - cpu0) / (wall1 - wall0), 3)
    # what one request costs the server, whatever share of a core the machine gave it
    busy = (cpu1 - cpu0) - idle * (wall1 - wall0)
    result["server_cpu_ms_per_request"] = round(
        busy * 1000 / max(1, result["requests"] + result["warmup_requests"]), 3)
    if result["errors"] or set(result["statuses"]) != {"200"} or result["mismatched_bodies"]:
        raise BenchError(f"{url}{path}: not every answer was a 200 with the expected body: "
                         f"statuses {result['statuses']}, "
                         f"{result['mismatched_bodies']} other bodies, {result['errors']}")
    return result


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(x for r in rounds for x in r["latencies_ms"])
    requests = sum(r["requests"] for r in rounds)
    seconds = sum(r["seconds"] for r in rounds)
    return {"requests": requests, "seconds": round(seconds, 3),
            "rps": round(requests / seconds, 1),
            "p50_ms": latencies[len(latencies) // 2],
            "p99_ms": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "rounds_rps": [r["rps"] for r in rounds],
            "generator_cpu_share_max": max(r["client_cpu_share"] for r in rounds),
            "server_cpu_share_median": round(statistics.median(r["server_cpu_share"]
                                                               for r in rounds), 3),
            "server_cpu_ms_per_request": round(statistics.median(
                r["server_cpu_ms_per_request"] for r in rounds), 3)}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("java") is None:
        raise BenchError("java is not on PATH; run scripts/setup.sh")
    top = Path(tempfile.mkdtemp(prefix="ndovu-api-load-")).resolve()
    state_dir = top / "state"
    state_dir.mkdir()
    ndovu_url = f"http://127.0.0.1:{free_port()}"
    bare_url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
    env.update(NDOVU_LOCAL_SUBNET=SUBNET, _TYPER_STANDARD_TRACEBACK="1")
    path = f"/v1/clusters/{CLUSTER}"
    try:
        with serving([str(NDOVU), "server", "--state-dir", str(state_dir),
                      "--port", ndovu_url.rsplit(":", 1)[1]], ndovu_url, top / "ndovu.log",
                     "/v1/health", env) as ndovu:
            password = (state_dir / "initial-admin-password").read_text().strip()
            with httpx.Client(base_url=ndovu_url, timeout=30) as client:
                token = _check(client.post("/v1/auth/tokens", json={
                    "username": "admin", "password": password}), "POST /v1/auth/tokens")["token"]
                client.headers["Authorization"] = f"Bearer {token}"
                log("deploying a 3-node ZooKeeper cluster")
                deploy(client)
                body = client.get(path).content
            expected = top / "body.json"
            expected.write_bytes(body)
            with serving([sys.executable, str(BENCH / "bare_endpoint.py"),
                          "--db", str(top / "bare.db"), "--port", bare_url.rsplit(":", 1)[1],
                          "--load", CLUSTER, str(expected)], bare_url, top / "bare.log",
                         path) as bare:
                if httpx.get(bare_url + path).content != body:
                    raise BenchError("the bare endpoint does not answer ndovu's bytes")
                idle = {"ndovu": idle_share(ndovu.pid), "bare": idle_share(bare.pid)}
                rounds: dict[str, list[dict[str, Any]]] = {"ndovu": [], "bare": []}
                for i in range(args.rounds):
                    order = ("ndovu", "bare") if i % 2 == 0 else ("bare", "ndovu")
                    for side in order:
                        if side == "ndovu":
                            result = load(ndovu_url, path, [f"Authorization: Bearer {token}"],
                                          expected, ndovu.pid, idle[side], args)
                        else:
                            result = load(bare_url, path, [], expected, bare.pid, idle[side],
                                          args)
                        rounds[side].append(result)
                        log(f"round {i + 1}/{args.rounds} {side}: {result['rps']} rps, "
                            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
                            f"client CPU {result['client_cpu_share']}, "
                            f"server CPU {result['server_cpu_share']} "
                            f"({result['server_cpu_ms_per_request']} ms per request)")
            with httpx.Client(base_url=ndovu_url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                _check(client.delete(path), "DELETE cluster")
                deadline = time.monotonic() + 60
                while client.get(path).status_code != 404 and time.monotonic() < deadline:
                    time.sleep(0.2)
    except BenchError:
        log(f"ndovu server log (tail):\n{_tail(top / 'ndovu.log', 30)}")
        raise
    finally:
        kill_leftovers(top)
        shutil.rmtree(top, ignore_errors=True)
    ndovu_sum, bare_sum = summarize(rounds["ndovu"]), summarize(rounds["bare"])
    ndovu_sum["idle_cpu_share"] = round(idle["ndovu"], 3)
    bare_sum["idle_cpu_share"] = round(idle["bare"], 3)
    rps_ratio = ndovu_sum["rps"] / bare_sum["rps"]
    generator_max = max(ndovu_sum["generator_cpu_share_max"],
                        bare_sum["generator_cpu_share_max"])
    return {"benchmark": "api_load", "endpoint": "GET /v1/clusters/{name} (3-node zookeeper)",
            "clients": args.clients, "seconds_per_side": args.seconds, "rounds": args.rounds,
            "response_bytes": len(body), "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "ndovu": ndovu_sum, "bare": bare_sum,
            # a generator using well under a core spent its time waiting for the server
            "generator_saturated": generator_max > GENERATOR_SATURATED,
            "rps_ratio": round(rps_ratio, 3),
            # each round's pair alone, for a run on a noisy machine
            "rps_ratio_median_of_rounds": round(statistics.median(
                n["rps"] / b["rps"] for n, b in zip(rounds["ndovu"], rounds["bare"],
                                                    strict=True)), 3),
            # the server CPU one request costs, bare/ndovu (>= 1: ndovu's is no dearer);
            # steadier than the rates when other work on the machine takes CPU from either
            "cpu_per_request_ratio": round(bare_sum["server_cpu_ms_per_request"]
                                           / ndovu_sum["server_cpu_ms_per_request"], 3),
            "p50_ratio": round(ndovu_sum["p50_ms"] / bare_sum["p50_ms"], 3),
            "p99_ratio": round(ndovu_sum["p99_ms"] / bare_sum["p99_ms"], 3),
            "target_rps_ratio": TARGET_RATIO, "meets_target": rps_ratio >= TARGET_RATIO}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measured seconds per side, over all rounds")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (>= 1)")
    parser.add_argument("--max-requests", type=int, default=200_000,
                        help="requests per round at most")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.rounds < 1 or args.max_requests < 1:
        parser.error("--clients, --rounds and --max-requests must be >= 1, --seconds > 0")
    try:
        result = benchmark(args)
    except BenchError as exc:
        print(json.dumps({"benchmark": "api_load", "error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
