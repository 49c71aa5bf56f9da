"""End to end: a real ndovu server deploys a Spark standalone cluster that runs a real job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ndovu.roles.spark import SparkMasterRole, spark_home
from tests.helpers import Server, wait_operation, wait_until

pytestmark = pytest.mark.integration

SUBNET = "127.67.0.0/16"
# the job's driver: an address of the subnet the provider hands out last, if ever
DRIVER_ADDRESS = "127.67.255.254"

JOB = """\
import json, os, sys, time
from pyspark import SparkContext

sc = SparkContext(appName=sys.argv[1])

def where(_):
    time.sleep(0.2)  # long enough that no executor takes every task alone
    return os.environ.get("SPARK_LOCAL_IP", "?")  # the worker's address, inherited

hosts = sorted(set(sc.parallelize(range(40), 20).map(where).collect()))
total = sc.parallelize(range(1, 1001), 10).sum()
print("NDOVU-RESULT " + json.dumps({"hosts": hosts, "sum": total}), flush=True)
# hold the executors alive until the test has looked at their sockets (bounded)
open("held", "w").close()
deadline = time.monotonic() + 120
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.1)
sc.stop()
"""


def node_pids(state_dir: Path) -> list[int]:
    """Live processes of any node of this server (every one carries NDOVU_NODE_ROOT)."""
    prefix = f"NDOVU_NODE_ROOT={state_dir.resolve()}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(v.startswith(prefix) for v in environ):
            found.append(int(entry.name))
    return found


def kill_all(state_dir: Path) -> None:
    for pid in node_pids(state_dir):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def start_job(master: str, driver: str, tmp: Path, app: str) -> subprocess.Popen[str]:
    """Start JOB through spark-submit in ``tmp``, with the driver bound to ``driver``."""
    home = spark_home()
    assert home is not None, "pyspark is not installed"
    script = tmp / "job.py"
    script.write_text(JOB)
    conf_dir = tmp / "conf"  # empty: no spark-defaults.conf of the installation applies
    conf_dir.mkdir(exist_ok=True)
    argv = [str(home / "bin" / "spark-submit"), "--master", master,
            "--driver-memory", "512m",
            "--conf", f"spark.driver.host={driver}",
            "--conf", f"spark.driver.bindAddress={driver}",
            "--conf", "spark.executor.memory=512m",
            "--conf", "spark.cores.max=2",
            "--conf", "spark.ui.enabled=false",
            # wait for both executors before scheduling, so both get tasks
            "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
            str(script), app]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NDOVU_", "SPARK_"))}
    env.update(SPARK_HOME=str(home), SPARK_CONF_DIR=str(conf_dir), SPARK_LOCAL_IP=driver,
               PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    return subprocess.Popen(argv, env=env, cwd=tmp, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish_job(process: subprocess.Popen[str], timeout: float = 240) -> dict:
    """Wait for a job started by start_job; its result."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        raise AssertionError(f"job did not finish within {timeout:.0f} s:\n"
                             f"{output[-4000:]}") from None
    results = [line for line in output.splitlines() if line.startswith("NDOVU-RESULT ")]
    assert process.returncode == 0 and results, (
        f"job failed (exit {process.returncode}):\n{output[-4000:]}")
    return json.loads(results[-1].removeprefix("NDOVU-RESULT "))


def assert_own_addresses(state_dir: Path, addresses: dict[str, str]) -> int:
    """Every listener of every node process binds its node's address (``addresses`` by
    node name) and nothing else; returns how many processes were looked at."""
    by_node: dict[str, list[int]] = {}
    for pid in node_pids(state_dir):
        with contextlib.suppress(OSError):
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            root = next(v for v in environ if v.startswith(b"NDOVU_NODE_ROOT="))
            by_node.setdefault(Path(root.decode().split("=", 1)[1]).name, []).append(pid)
    for name, pids in by_node.items():
        sockets = [s for pid in pids for s in listening_sockets(pid)]
        assert sockets and {a for a, _ in sockets} == {addresses[name]}, (name, sockets)
    return sum(len(pids) for pids in by_node.values())


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets ``pid`` listens on."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            hex_address, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_address)
            if len(raw) == 16:  # an IPv4-mapped IPv6 address keeps IPv4 in its last word
                raw = raw[12:]
            found.append((".".join(str(b) for b in reversed(raw)), int(hex_port, 16)))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # pyspark and Java come with the dev setup: without them this must fail, not skip
    reason = SparkMasterRole().unsupported_reason()
    if reason:
        pytest.fail(reason)
    srv = Server(tmp_path_factory.mktemp("spark") / "state", subnet=SUBNET).start()
    yield srv
    srv.stop()
    # whatever a failed test left behind: no process may outlive the tests
    kill_all(srv.state_dir)


def _nodes(cluster: dict) -> dict[str, dict]:
    return {n["name"]: n for g in cluster["nodeGroups"] for n in g["instances"]}


def test_bad_worker_cores_is_refused(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "spark_bad", "type": "spark",
                                         "configuration": {"spark": {"worker.cores": 0}}})
        assert 400 <= r.status_code < 500, r.text
        error = r.json()["error"]
        assert "worker.cores" in error["message"] and "worker.cores" in error["field"], error
        assert c.get("/v1/clusters").json()["clusters"] == []
        assert c.get("/v1/operations").json()["operations"] == []
    nodes = server.state_dir / "nodes"
    assert not nodes.exists() or not [p for p in nodes.iterdir() if p.is_dir()]


def test_create_run_job_delete(server: Server, tmp_path: Path) -> None:
    with server.client() as c:
        began = time.monotonic()
        r = c.post("/v1/clusters", json={"name": "spark_e2e", "type": "spark"})
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        took = time.monotonic() - began
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/spark_e2e").json()
        events = c.get(f"/v1/operations/{op['id']}/events").json()["events"]
    print(f"\nspark create to RUNNING in {took:.1f} s")
    assert cluster["status"] == "RUNNING"
    nodes = _nodes(cluster)
    assert sorted(nodes) == ["spark_e2e-master-0", "spark_e2e-worker-0", "spark_e2e-worker-1"]
    assert {n["status"] for n in nodes.values()} == {"SERVICE_READY"}
    master = nodes["spark_e2e-master-0"]["ip"]
    workers = sorted(nodes[f"spark_e2e-worker-{i}"]["ip"] for i in range(2))
    assert all(a.startswith("127.67.") for a in [master, *workers])
    assert DRIVER_ADDRESS not in [master, *workers]
    endpoints = cluster["endpoints"]
    assert endpoints["spark"] == f"spark://{master}:7077"
    assert endpoints["spark_master_ui"] == f"http://{master}:8080"
    assert sorted(endpoints["spark_worker_ui"].split(",")) == [
        f"http://{w}:8081" for w in workers]

    # workers start only once the master is ready
    master_ready = max(e["id"] for e in events if e["step"] == "service ready"
                       and e["node"] == "spark_e2e-master-0")
    worker_starts = [e["id"] for e in events if e["step"] == "start spark_worker"]
    assert len(worker_starts) == 2 and min(worker_starts) > master_ready

    # every daemon listens on its own node's address only (no 0.0.0.0, no 127.0.0.1)
    addresses = {name: node["ip"] for name, node in nodes.items()}
    assert assert_own_addresses(server.state_dir, addresses) == 3

    state = httpx.get(f"http://{master}:8080/json/", timeout=5).json()
    assert state["status"] == "ALIVE" and state["aliveworkers"] == 2

    began = time.monotonic()
    job = start_job(endpoints["spark"], DRIVER_ADDRESS, tmp_path, "ndovu-e2e")
    try:
        wait_until(lambda: (tmp_path / "held").exists() or job.poll() is not None,
                   timeout=240, what="the job's tasks to finish")
        if job.poll() is None:
            # the executors, too, listen on their worker's address only
            assert assert_own_addresses(server.state_dir, addresses) >= 5
    finally:
        (tmp_path / "go").touch()
    result = finish_job(job)
    print(f"job in {time.monotonic() - began:.1f} s")
    assert result["sum"] == 500500
    assert result["hosts"] == workers, "executors did not run on both workers"
    for i in range(2):
        work = server.state_dir / "nodes" / f"spark_e2e-worker-{i}" / "work"
        assert list(work.glob("app-*/*/stderr")), f"no executor ran under {work}"
    state = httpx.get(f"http://{master}:8080/json/", timeout=5).json()
    assert [a["name"] for a in state["completedapps"]] == ["ndovu-e2e"]

    with server.client() as c:
        r = c.delete("/v1/clusters/spark_e2e")
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        assert c.get("/v1/clusters/spark_e2e").status_code == 404
    assert node_pids(server.state_dir) == []
    assert not [p for p in (server.state_dir / "nodes").iterdir() if p.is_dir()]
