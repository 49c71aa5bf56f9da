"""End to end: a Spark cluster with two masters in ZooKeeper recovery mode, and failover."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, node_pids, wait_operation, wait_until
from tests.spark_jobs import submit

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration

SUBNET = "127.68.0.0/16"
DRIVER_ADDRESS = "127.68.255.254"
MASTERS = ["master-0", "master-1"]

def master_status(address: str) -> str | None:
    try:
        return httpx.get(f"http://{address}:8080/json/", timeout=2).json().get("status")
    except (httpx.HTTPError, ValueError):
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, distros_dir: Path) -> Iterator[Server]:
    # the nodes fetch Spark from the server's depot: the folder the tests build it into
    srv = Server(tmp_path_factory.mktemp("spark_ha") / "state", subnet=SUBNET,
                 catalog_dirs=(distros_dir,)).start()
    yield srv
    srv.stop()
    # whatever a failed test left behind: no process may outlive the tests
    for pid in node_pids(srv.state_dir):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _nodes(cluster: dict) -> dict[str, dict]:
    return {n["name"]: n for g in cluster["nodeGroups"] for n in g["instances"]}


def _delete(server: Server, name: str) -> None:
    with server.client() as c:
        r = c.delete(f"/v1/clusters/{name}")
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        assert c.get(f"/v1/clusters/{name}").status_code == 404


def test_create_order_failover_job(server: Server, tmp_path: Path) -> None:
    name = "sha"
    with server.client() as c:
        began = time.monotonic()
        r = c.post("/v1/clusters", json={"name": name, "type": "spark_ha"})
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        took = time.monotonic() - began
        assert op["status"] == "COMPLETED", op
        cluster = c.get(f"/v1/clusters/{name}").json()
        events = c.get(f"/v1/clusters/{name}/events").json()["events"]
    print(f"\nspark_ha create to RUNNING in {took:.1f} s")
    assert cluster["status"] == "RUNNING"
    nodes = _nodes(cluster)
    assert {n["status"] for n in nodes.values()} == {"SERVICE_READY"}
    assert len(nodes) == 7
    zookeepers = [f"{name}-zookeeper-{i}" for i in range(3)]
    masters = [nodes[f"{name}-{m}"]["ip"] for m in MASTERS]
    workers = sorted(nodes[f"{name}-worker-{i}"]["ip"] for i in range(2))
    assert cluster["endpoints"]["spark"] == f"spark://{masters[0]}:7077,{masters[1]}:7077"
    assert cluster["endpoints"]["zookeeper"] == ",".join(
        f"{nodes[z]['ip']}:2181" for z in zookeepers)

    # masters start only once every ZooKeeper node is ready, workers once the masters are
    def ids(step: str, node_names: list[str]) -> list[int]:
        return [e["id"] for e in events if e["step"] == step and e["outcome"] == "ok"
                and e["node"] in node_names]

    zk_ready = ids("service ready", zookeepers)
    master_starts = ids("start spark_master", [f"{name}-{m}" for m in MASTERS])
    master_ready = ids("service ready", [f"{name}-{m}" for m in MASTERS])
    worker_starts = ids("start spark_worker", [f"{name}-worker-{i}" for i in range(2)])
    assert len(zk_ready) == 3 and len(master_starts) == 2 and len(master_ready) == 2
    assert min(master_starts) > max(zk_ready), events
    assert len(worker_starts) == 2 and min(worker_starts) > max(master_ready), events

    # one master leads, the other stands by
    def leader_and_standby() -> list[str] | None:
        found = [master_status(a) or "" for a in masters]
        return found if sorted(found) == ["ALIVE", "STANDBY"] else None

    statuses = wait_until(leader_and_standby, timeout=60,
                          what="one ALIVE and one STANDBY master")
    leader = statuses.index("ALIVE")
    standby = 1 - leader

    # failover: SIGKILL the leader's whole process group (no goodbye to ZooKeeper)
    run = server.state_dir / "nodes" / f"{name}-{MASTERS[leader]}" / "run"
    pid = int((run / "spark_master.pid").read_text().split()[0])
    began = time.monotonic()
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: master_status(masters[standby]) == "ALIVE", timeout=120,
               what=f"the standby master {masters[standby]} to become ALIVE", interval=0.2)
    failover = time.monotonic() - began

    def workers_back() -> bool:
        state = httpx.get(f"http://{masters[standby]}:8080/json/", timeout=2).json()
        return sorted(w["host"] for w in state["workers"] if w["state"] == "ALIVE") == workers

    wait_until(workers_back, timeout=120, what="both workers on the new master")
    print(f"failover (kill to ALIVE) in {failover:.1f} s, workers back after "
          f"{time.monotonic() - began:.1f} s")

    began = time.monotonic()
    result = submit(cluster["endpoints"]["spark"], DRIVER_ADDRESS, tmp_path, "ndovu-ha")
    print(f"job after failover in {time.monotonic() - began:.1f} s")
    assert result["sum"] == 500500
    assert result["hosts"] == workers, "executors did not run on both workers"

    _delete(server, name)
    assert node_pids(server.state_dir) == []
    assert not [p for p in (server.state_dir / "nodes").iterdir() if p.is_dir()]


def test_taken_master_port_fails_the_create(server: Server) -> None:
    """A port taken on master-0's address while ZooKeeper comes up: the create fails
    naming that node with the role's own error, and the cluster can be deleted."""
    name = "sha_busy"
    master0 = f"{name}-master-0"
    squatter = socket.socket()
    try:
        with server.client() as c:
            r = c.post("/v1/clusters", json={"name": name, "type": "spark_ha"})
            assert r.status_code == 202, r.text
            op_id = r.json()["id"]

            def master0_address() -> str | None:
                cluster = c.get(f"/v1/clusters/{name}").json()
                node = _nodes(cluster).get(master0)
                return node["ip"] if node and node["ip"] else None

            address = wait_until(master0_address, timeout=60,
                                 what=f"{master0} to be provisioned", interval=0.05)
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((address, 7077))
            squatter.listen()
            events = c.get(f"/v1/operations/{op_id}/events").json()["events"]
            too_late = any(e["step"] == "start spark_master" for e in events)
            op = wait_operation(c, op_id)
            cluster = c.get(f"/v1/clusters/{name}").json()
    finally:
        squatter.close()
    if too_late:
        _delete(server, name)
        pytest.skip("the masters started before the port could be taken (ZooKeeper came "
                    "up faster than the test could poll)")
    assert op["status"] == "FAILED", op
    assert master0 in op["errorMessage"] and master0 in op["failNodes"], op
    node = _nodes(cluster)[master0]
    assert node["status"] == "BOOTSTRAP_FAILED", node
    assert f"port 7077 on {address} is already in use" in node["errMessage"], node
    assert cluster["status"] == "PROVISION_ERROR"
    _delete(server, name)
    assert node_pids(server.state_dir) == []
