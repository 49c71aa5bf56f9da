"""End to end: a real ndovu server deploys a Spark standalone cluster that runs a real job."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import Server, kill_all, listening_sockets, node_pids, wait_operation, wait_until
from tests.spark_jobs import finish_job, start_job

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration

SUBNET = "127.67.0.0/16"
# the job's driver: an address of the subnet the provider hands out last, if ever
DRIVER_ADDRESS = "127.67.255.254"




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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, distros_dir: Path) -> Iterator[Server]:
    # the nodes fetch Spark from the server's depot: the folder the tests build it into
    srv = Server(tmp_path_factory.mktemp("spark") / "state", subnet=SUBNET,
                 catalog_dirs=(distros_dir,)).start()
    yield srv
    srv.stop()
    # whatever a failed test left behind: no process may outlive the tests
    kill_all(srv.state_dir)


def _resize(c: httpx.Client, cluster: str, workers: int) -> None:
    r = c.put(f"/v1/clusters/{cluster}/nodegroups/worker/instancenum",
              json={"instanceNum": workers})
    assert r.status_code == 202, r.text
    op = wait_operation(c, r.json()["id"])
    assert op["status"] == "COMPLETED", op


def _alive_workers(master: str) -> list[str]:
    """The addresses of the workers the master counts as ALIVE."""
    state = httpx.get(f"http://{master}:8080/json/", timeout=5).json()
    return sorted(w["host"] for w in state["workers"] if w["state"] == "ALIVE")


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
    job = start_job(endpoints["spark"], DRIVER_ADDRESS, tmp_path, "ndovu-e2e", hold=True)
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

    # resize the workers out: the new worker registers with the master
    with server.client() as c:
        _resize(c, "spark_e2e", 3)
        nodes = _nodes(c.get("/v1/clusters/spark_e2e").json())
    new_worker = nodes["spark_e2e-worker-2"]
    assert new_worker["status"] == "SERVICE_READY" and new_worker["ip"].startswith("127.67.")
    assert _alive_workers(master) == sorted([*workers, new_worker["ip"]])
    # and in: the highest indexes go, with their processes and directories
    with server.client() as c:
        _resize(c, "spark_e2e", 1)
        assert sorted(_nodes(c.get("/v1/clusters/spark_e2e").json())) == [
            "spark_e2e-master-0", "spark_e2e-worker-0"]
    wait_until(lambda: _alive_workers(master) == [nodes["spark_e2e-worker-0"]["ip"]],
               timeout=90, what="the master to see one worker left")
    for gone in ("spark_e2e-worker-1", "spark_e2e-worker-2"):
        root = server.state_dir / "nodes" / gone
        assert not root.exists()
        assert node_pids(root) == [], f"processes of {gone} outlived it"

    with server.client() as c:
        r = c.delete("/v1/clusters/spark_e2e")
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        assert c.get("/v1/clusters/spark_e2e").status_code == 404
    assert node_pids(server.state_dir) == []
    assert not [p for p in (server.state_dir / "nodes").iterdir() if p.is_dir()]
