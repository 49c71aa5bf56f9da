"""End to end: a real ndovu server stops, starts and resizes real clusters.

ZooKeeper: a znode written before a stop is still there after the start (the data stays
with the nodes). etcd: 3 → 5 → 3 members; the new members really join (the member list of
an original member says so, a key put via a new member is read via an old one) and the
removed ones really leave (member list, no process, no directory).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from kazoo.client import KazooClient

from tests.helpers import Server, etcdctl, processes_under, wait_operation, wait_until

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite, PostgreSQL
# and MariaDB
pytestmark = [pytest.mark.integration, pytest.mark.database]

ZK = "QuorumPeerMain"
# a flag only etcd's command line carries
ETCD = "--initial-cluster-token="
OP_TIMEOUT = 120


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "state", subnet="127.70.0.0/16").start()
    yield srv
    srv.stop()
    # whatever a failed test left behind: no process may outlive the test
    for pid in processes_under(srv.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _accepted(r: httpx.Response, op_type: str) -> dict[str, Any]:
    assert r.status_code == 202, r.text
    op = r.json()
    assert op["type"] == op_type and r.headers["Location"] == f"/v1/operations/{op['id']}"
    return op


def _completed(c: httpx.Client, r: httpx.Response, op_type: str) -> dict[str, Any]:
    op = wait_operation(c, _accepted(r, op_type)["id"], timeout=OP_TIMEOUT)
    assert op["status"] == "COMPLETED", op
    return op


def _nodes(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def _kill_after(server: Server, op_id: int, step: str) -> None:
    """kill -9 the server once the operation logged ``step`` for some node, then start it
    again: the same operation must go on from there."""
    with server.client() as c:
        def happened() -> bool:
            events = c.get(f"/v1/operations/{op_id}/events").json()["events"]
            return any(e["step"] == step and e["outcome"] == "ok" for e in events)

        wait_until(happened, timeout=60, what=f"a '{step}' event", interval=0.01)
    server.stop(signal.SIGKILL)
    server.start()


def _node_dirs(server: Server) -> list[str]:
    return sorted(p.name for p in (server.state_dir / "nodes").iterdir()
                  if p.is_dir() and not p.name.startswith("."))


def test_stop_keeps_the_data_and_start_brings_it_back(server: Server) -> None:
    with server.client() as c:
        _completed(c, c.post("/v1/clusters", json={"name": "zk_life", "type": "zookeeper"}),
                   "CREATE")
        cluster = c.get("/v1/clusters/zk_life").json()
    names = [n["name"] for n in _nodes(cluster)]
    hosts = cluster["endpoints"]["zookeeper"]
    zk = KazooClient(hosts=hosts, timeout=10)
    try:
        zk.start(timeout=30)
        zk.create("/ndovu/lifecycle", b"kept across stop and start", makepath=True)
    finally:
        zk.stop()
        zk.close()
    assert len(processes_under(server.state_dir, ZK)) == 3

    with server.client() as c:
        stop = _accepted(c.post("/v1/clusters/zk_life/stop"), "STOP")
    _kill_after(server, stop["id"], "stop zookeeper")  # killed mid-stop: it resumes
    with server.client() as c:
        stop = wait_operation(c, stop["id"], timeout=OP_TIMEOUT)
        assert stop["status"] == "COMPLETED", stop
        cluster = c.get("/v1/clusters/zk_life").json()
        events = c.get(f"/v1/operations/{stop['id']}/events").json()["events"]
        log = c.get("/v1/clusters/zk_life/events").json()["events"]
        again = c.post("/v1/clusters/zk_life/stop")
    assert cluster["status"] == "STOPPED"
    assert {n["status"] for n in _nodes(cluster)} == {"POWERED_OFF"}
    assert processes_under(server.state_dir, ZK) == []
    assert _node_dirs(server) == names  # the nodes and their data stay
    for name in names:
        assert (server.state_dir / "nodes" / name / "data" / "myid").exists()
    for step in ("stop zookeeper", "power off"):
        done = {e["node"] for e in events if e["step"] == step and e["outcome"] == "ok"}
        assert done == set(names), (step, events)
        # timed, unless done by the killed server and found done by the restarted one
        assert all(e["durationMs"] is not None or "already done" in e["message"]
                   for e in events if e["step"] == step), events
    assert {"stop zookeeper", "power off", "cluster stopped"} <= {e["step"] for e in log}
    assert again.status_code == 409 and "already STOPPED" in again.json()["error"]["message"]

    with server.client() as c:
        start = _completed(c, c.post("/v1/clusters/zk_life/start"), "START")
        cluster = c.get("/v1/clusters/zk_life").json()
        events = c.get(f"/v1/operations/{start['id']}/events").json()["events"]
    assert cluster["status"] == "RUNNING"
    assert {n["status"] for n in _nodes(cluster)} == {"SERVICE_READY"}
    assert cluster["endpoints"]["zookeeper"] == hosts  # same nodes, same addresses
    assert {e["node"] for e in events if e["step"] == "power on"} == set(names)
    assert len(processes_under(server.state_dir, ZK)) == 3
    zk = KazooClient(hosts=hosts, timeout=10)
    try:
        zk.start(timeout=30)
        zk.sync("/ndovu/lifecycle")
        assert zk.get("/ndovu/lifecycle")[0] == b"kept across stop and start"
    finally:
        zk.stop()
        zk.close()

    with server.client() as c:
        _completed(c, c.delete("/v1/clusters/zk_life"), "DELETE")
    assert processes_under(server.state_dir, ZK) == []


def _members(address: str) -> dict[str, str]:
    """``etcdctl member list`` as name -> status (started / unstarted)."""
    found = {}
    for line in etcdctl(address, "member", "list").splitlines():
        fields = line.split(", ")  # id, status, name, peer URLs, client URLs, learner
        found[fields[2] or fields[3]] = fields[1]
    return found


def test_etcd_grows_to_five_members_and_shrinks_back_to_three(server: Server) -> None:
    with server.client() as c:
        _completed(c, c.post("/v1/clusters", json={"name": "etcd_life", "type": "etcd"}),
                   "CREATE")
        first = _nodes(c.get("/v1/clusters/etcd_life").json())
        resize = _accepted(c.put("/v1/clusters/etcd_life/nodegroups/etcd/instancenum",
                                 json={"instanceNum": 5}), "RESIZE")
        # a second mutating call while the resize runs is refused, naming it
        busy = c.post("/v1/clusters/etcd_life/stop")
    # killed once the first new member joined: the restarted server finishes the resize
    _kill_after(server, resize["id"], "start etcd")
    with server.client() as c:
        op = wait_operation(c, resize["id"], timeout=OP_TIMEOUT)
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/etcd_life").json()
    assert busy.status_code == 409, busy.text
    assert f"operation {resize['id']} (RESIZE" in busy.json()["error"]["message"]

    nodes = _nodes(cluster)
    names = [f"etcd_life-etcd-{i}" for i in range(5)]
    assert [n["name"] for n in nodes] == names
    assert {n["status"] for n in nodes} == {"SERVICE_READY"}
    assert cluster["status"] == "RUNNING"
    assert [n["ip"] for n in nodes[:3]] == [n["ip"] for n in first]  # originals untouched
    assert _members(first[0]["ip"]) == dict.fromkeys(names, "started")
    assert len(cluster["endpoints"]["etcd"].split(",")) == 5
    # written via a new member, read via an original one
    assert etcdctl(nodes[4]["ip"], "put", "/ndovu/grown", "five").strip() == "OK"
    assert etcdctl(nodes[0]["ip"], "get", "/ndovu/grown").splitlines() == [
        "/ndovu/grown", "five"]
    assert len(processes_under(server.state_dir, ETCD)) == 5

    with server.client() as c:
        shrink = _completed(c, c.put("/v1/clusters/etcd_life/nodegroups/etcd/instancenum",
                                     json={"instanceNum": 3}), "RESIZE")
        cluster = c.get("/v1/clusters/etcd_life").json()
        events = c.get(f"/v1/operations/{shrink['id']}/events").json()["events"]
    assert [n["name"] for n in _nodes(cluster)] == names[:3]
    assert _members(first[1]["ip"]) == dict.fromkeys(names[:3], "started")
    for removed in names[3:]:
        assert processes_under(server.state_dir / "nodes" / removed) == []
        assert not (server.state_dir / "nodes" / removed).exists()
        steps = [e["step"] for e in events if e["node"] == removed and e["outcome"] == "ok"]
        assert steps == ["decommission etcd", "stop etcd", "remove node"], events
    assert _node_dirs(server) == names[:3]
    assert len(processes_under(server.state_dir, ETCD)) == 3
    # the data written while it had five members is still there
    assert etcdctl(first[2]["ip"], "get", "/ndovu/grown").splitlines() == [
        "/ndovu/grown", "five"]

    with server.client() as c:
        _completed(c, c.delete("/v1/clusters/etcd_life"), "DELETE")
    assert processes_under(server.state_dir, ETCD) == []
