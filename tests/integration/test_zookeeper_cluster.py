"""End to end: a real ndovu server deploys a real 3-node ZooKeeper ensemble."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from tests.helpers import Server, processes_under, wait_operation, wait_until

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite, PostgreSQL
# and MariaDB
pytestmark = [pytest.mark.integration, pytest.mark.database]

ZK = "QuorumPeerMain"


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "state", subnet="127.61.0.0/16").start()
    yield srv
    srv.stop()
    # whatever a failed test left behind: no process may outlive the test
    for pid in processes_under(srv.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _create(server: Server, name: str) -> dict:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": name, "type": "zookeeper"})
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == f"/v1/operations/{r.json()['id']}"
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        return c.get(f"/v1/clusters/{name}").json()


def _members(cluster: dict) -> list[str]:
    return [n["ip"] for g in cluster["nodeGroups"] for n in g["instances"]]


def test_create_write_read_restart_delete(server: Server) -> None:
    cluster = _create(server, "zk_e2e")
    assert cluster["status"] == "RUNNING"
    nodes = [n for g in cluster["nodeGroups"] for n in g["instances"]]
    assert [n["name"] for n in nodes] == [f"zk_e2e-zookeeper-{i}" for i in range(3)]
    assert {n["status"] for n in nodes} == {"SERVICE_READY"}
    addresses = _members(cluster)
    assert len(set(addresses)) == 3 and all(a.startswith("127.61.") for a in addresses)
    assert cluster["endpoints"]["zookeeper"] == ",".join(f"{a}:2181" for a in addresses)
    op = cluster["operation"]
    assert op["progress"] == 100 and sorted(op["succeedNodes"]) == [n["name"] for n in nodes]

    # a znode written via member 1 is read via member 3
    first, third = (KazooClient(hosts=f"{a}:2181", timeout=10)
                    for a in (addresses[0], addresses[2]))
    try:
        first.start(timeout=20)
        first.create("/ndovu/e2e", b"hello", makepath=True)
        third.start(timeout=20)
        third.sync("/ndovu/e2e")
        assert third.get("/ndovu/e2e")[0] == b"hello"
    finally:
        for c in (first, third):
            c.stop()
            c.close()

    # every step left an event
    with server.client() as c:
        events = c.get(f"/v1/operations/{op['id']}/events").json()["events"]
    steps = {(e["step"], e["node"]) for e in events if e["outcome"] == "ok"}
    for node in nodes:
        assert ("provision", node["name"]) in steps
        assert ("start zookeeper", node["name"]) in steps
        assert ("service ready", node["name"]) in steps

    # restarting the server while the cluster runs: no duplicates, still RUNNING
    pids_before = sorted(processes_under(server.state_dir, ZK))
    assert len(pids_before) == 3
    server.stop(signal.SIGKILL)
    server.start()
    with server.client() as c:
        assert c.get("/v1/clusters/zk_e2e").json()["status"] == "RUNNING"
    assert sorted(processes_under(server.state_dir, ZK)) == pids_before

    # delete: no process, no node directory
    with server.client() as c:
        r = c.delete("/v1/clusters/zk_e2e")
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        assert c.get("/v1/clusters/zk_e2e").status_code == 404
        assert c.get("/v1/clusters").json()["clusters"] == []
    assert processes_under(server.state_dir, ZK) == []
    nodes_dir = server.state_dir / "nodes"
    assert not any(p.is_dir() for p in nodes_dir.iterdir()) if nodes_dir.exists() else True


def test_two_clusters_never_share_an_address(server: Server) -> None:
    a = _create(server, "zk_a")
    b = _create(server, "zk_b")
    assert not set(_members(a)) & set(_members(b))
    assert len(processes_under(server.state_dir, ZK)) == 6
    with server.client() as c:
        for name in ("zk_a", "zk_b"):
            op = wait_operation(c, c.delete(f"/v1/clusters/{name}").json()["id"])
            assert op["status"] == "COMPLETED"
    assert processes_under(server.state_dir, ZK) == []


@pytest.fixture
def fresh_subnet_server(tmp_path: Path):
    """A subnet no other test touches: no TIME_WAIT sockets of earlier health checks may
    hold the port this test binds."""
    srv = Server(tmp_path / "state", subnet="127.59.0.0/16").start()
    yield srv
    srv.stop()
    for pid in processes_under(srv.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def test_failing_role_reports_the_node_and_its_error(fresh_subnet_server: Server) -> None:
    """Port 2181 taken on one node's address: that node ends BOOTSTRAP_FAILED with the
    role's own error text, the cluster PROVISION_ERROR and the operation FAILED naming the
    node; no silent hang.

    The socket is bound without listening: the local provider only skips addresses with
    listeners, so it hands this address out, and ZooKeeper's own bind then fails.
    """
    server = fresh_subnet_server
    taken = "127.59.0.2"
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind((taken, 2181))
        with server.client() as c:
            r = c.post("/v1/clusters", json={"name": "zk_fail", "type": "zookeeper"})
            assert r.status_code == 202, r.text
            op = wait_operation(c, r.json()["id"])
            cluster = c.get("/v1/clusters/zk_fail").json()
    finally:
        blocker.close()
    assert op["status"] == "FAILED"
    assert cluster["status"] == "PROVISION_ERROR"
    nodes = [n for g in cluster["nodeGroups"] for n in g["instances"]]
    failed = [n for n in nodes if n["ip"] == taken]
    assert len(failed) == 1, nodes
    node = failed[0]
    assert node["status"] == "BOOTSTRAP_FAILED"
    # ZooKeeper's own words, from its log
    assert "Address already in use" in node["errMessage"], node["errMessage"]
    assert node["name"] in op["errorMessage"] and node["name"] in op["failNodes"]
    assert all(n["status"] != "BOOTSTRAP_FAILED" for n in nodes if n is not node)
    with server.client() as c:
        op = wait_operation(c, c.delete("/v1/clusters/zk_fail").json()["id"])
        assert op["status"] == "COMPLETED"
        assert c.get("/v1/clusters/zk_fail").status_code == 404
    assert processes_under(server.state_dir, ZK) == []


def test_server_killed_mid_create_resumes_without_duplicates(server: Server) -> None:
    """kill -9 of the server right after the first node was provisioned (chosen from the
    events, not by timing); the restarted server finishes the same operation with exactly
    the desired nodes and processes."""
    with server.client() as c:
        op_id = c.post("/v1/clusters", json={"name": "zk_crash",
                                             "type": "zookeeper"}).json()["id"]

        def provisioned() -> bool:
            events = c.get(f"/v1/operations/{op_id}/events").json()["events"]
            return any(e["step"] == "provision" and e["outcome"] == "ok" for e in events)

        wait_until(provisioned, timeout=60, what="the first provision event", interval=0.02)
        assert c.get(f"/v1/operations/{op_id}").json()["status"] == "STARTED"
    server.stop(signal.SIGKILL)
    server.start()
    with server.client() as c:
        op = wait_operation(c, op_id)
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/zk_crash").json()
    assert cluster["status"] == "RUNNING"
    names = sorted(n["name"] for g in cluster["nodeGroups"] for n in g["instances"])
    assert names == [f"zk_crash-zookeeper-{i}" for i in range(3)]
    node_dirs = sorted(p.name for p in (server.state_dir / "nodes").iterdir() if p.is_dir())
    assert node_dirs == names
    assert len(processes_under(server.state_dir, ZK)) == 3
    with server.client() as c:
        assert wait_operation(c, c.delete("/v1/clusters/zk_crash").json()["id"])[
            "status"] == "COMPLETED"
    assert processes_under(server.state_dir, ZK) == []


def test_server_killed_mid_delete_finishes_the_delete(server: Server) -> None:
    """kill -9 right after the first node was deleted (chosen from the events); the
    restarted server finishes the same delete: no process, no directory, no cluster."""
    _create(server, "zk_del_crash")
    with server.client() as c:
        op_id = c.delete("/v1/clusters/zk_del_crash").json()["id"]

        def one_deleted() -> bool:
            events = c.get(f"/v1/operations/{op_id}/events").json()["events"]
            return any(e["step"] == "delete node" and e["outcome"] == "ok" for e in events)

        wait_until(one_deleted, timeout=60, what="the first node deletion", interval=0.01)
    server.stop(signal.SIGKILL)
    server.start()
    with server.client() as c:
        op = wait_operation(c, op_id)
        assert op["status"] == "COMPLETED", op
        assert c.get("/v1/clusters/zk_del_crash").status_code == 404
    assert processes_under(server.state_dir, ZK) == []
    assert not [p for p in (server.state_dir / "nodes").iterdir() if p.is_dir()]
