"""kill -9 of a real ndovu server at chosen points of a create, a resize and a delete of real
clusters on the local provider, then a restart: the same operation resumes and finishes.

The server kills itself (NDOVU_CRASH_AFTER, ndovu.engine.failpoints) right after it
records a chosen event, so each crash falls exactly between two steps, chosen by what the
engine did, not by a timer. The nodes' processes keep running across the crash, as they
would on a real cloud. Checked every time:

- at the crash, the store tells the truth: every node it reports as made exists in the
  provider's inventory (or is marked as being taken away), and the operation is still in
  flight;
- after the restart, the operation completes with exactly the desired nodes in the
  provider's inventory (no duplicates, no orphans) and one service process per node;
- the operation's history from before the crash is intact, and the cluster works.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kazoo.client import KazooClient
from sqlalchemy import select

from ndovu.providers.local import LocalProvider
from ndovu.store import Store
from ndovu.store.models import Cluster, Operation
from tests.databases import database_url
from tests.helpers import Server, etcdctl, processes_under, wait_operation

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite, PostgreSQL
# and MariaDB
pytestmark = [pytest.mark.integration, pytest.mark.database]

SUBNET = "127.94.0.0/16"
ZK = "QuorumPeerMain"
ETCD = "--initial-cluster-token="
OP_TIMEOUT = 120
# made, running or stopped: a node in one of these states must exist in the inventory
EXISTING = {"VM_READY", "SERVICE_READY", "POWERED_ON", "POWERED_OFF", "BOOTSTRAP_FAILED"}
# a node's action while it is being taken away
GOING = {"deleting", "decommissioning"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "state", subnet=SUBNET).start()
    yield srv
    srv.stop()
    for pid in processes_under(srv.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _restart_to_crash_after(server: Server, point: str) -> None:
    server.stop()
    server.extra_env = {"NDOVU_CRASH_AFTER": point}
    server.start()


def _crashed_then_restarted(server: Server, op_id: int) -> dict[str, Any]:
    """Wait for the server to kill itself, check what the store says against the
    provider's inventory, start the server again; returns the store's view at the crash."""
    assert server.proc is not None
    assert server.proc.wait(OP_TIMEOUT) == -signal.SIGKILL, server.log.read_text()[-2000:]
    store = Store(database_url(server.state_dir))
    try:
        with store.session() as s:
            op = s.get(Operation, op_id)
            assert op is not None and op.status == "STARTED", op and op.status
            cluster = s.scalars(select(Cluster).where(Cluster.name == op.target)).first()
            rows = {} if cluster is None else {n.name: (n.status, n.action)
                                               for n in cluster.nodes}
            seen = {"cluster_status": cluster.status if cluster else None, "rows": rows,
                    "inventory": set(_inventory(server, op.target))}
    finally:
        store.dispose()
    # a node the store says exists is in the inventory, unless the store also says it is
    # being taken away right now (the provider may have finished before the crash)
    claimed = {name for name, (status, action) in rows.items()
               if status in EXISTING and action not in GOING}
    assert claimed <= seen["inventory"], seen
    server.extra_env = {}
    server.start()
    return seen


def _events(c: httpx.Client, op_id: int) -> list[dict[str, Any]]:
    return c.get(f"/v1/operations/{op_id}/events").json()["events"]


def _inventory(server: Server, cluster: str) -> list[str]:
    return [n.name for n in LocalProvider(server.state_dir, subnet=SUBNET).list_nodes(cluster)]


def _one_process_per_node(server: Server, names: list[str], marker: str) -> None:
    for name in names:
        found = processes_under(server.state_dir / "nodes" / name, marker)
        assert len(found) == 1, (name, found)
    assert len(processes_under(server.state_dir, marker)) == len(names)


def _zookeeper_works(hosts: str, path: str) -> None:
    zk = KazooClient(hosts=hosts, timeout=10)
    try:
        zk.start(timeout=30)
        zk.create(path, b"after the crash", makepath=True)
        zk.sync(path)
        assert zk.get(path)[0] == b"after the crash"
    finally:
        zk.stop()
        zk.close()


@pytest.mark.parametrize("point", ["provision:ok@2", "start zookeeper:ok@1",
                                   "service ready:ok@2"])
def test_a_create_killed_mid_way_resumes_with_exactly_its_nodes(server: Server,
                                                              point: str) -> None:
    _restart_to_crash_after(server, point)
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "zk_crash", "type": "zookeeper"})
        assert r.status_code == 202, r.text
        op_id = r.json()["id"]
    at_crash = _crashed_then_restarted(server, op_id)
    assert at_crash["cluster_status"] == "PROVISIONING"
    with server.client() as c:
        before = _events(c, op_id)
        op = wait_operation(c, op_id, timeout=OP_TIMEOUT)
        assert op["status"] == "COMPLETED", op
        r = c.get("/v1/clusters/zk_crash")
        assert r.status_code == 200, r.text
        cluster = r.json()
        after = _events(c, op_id)
    names = [f"zk_crash-zookeeper-{i}" for i in range(3)]
    assert _inventory(server, "zk_crash") == names
    assert [n["name"] for g in cluster["nodeGroups"] for n in g["instances"]] == names
    assert cluster["status"] == "RUNNING"
    _one_process_per_node(server, names, ZK)
    # the history from before the crash is kept, in order, and goes on from there
    assert after[:len(before)] == before
    step, _, outcome_n = point.partition(":")
    outcome, _, nth = outcome_n.partition("@")
    crashed_on = [e for e in before if e["step"] == step and e["outcome"] == outcome]
    assert len(crashed_on) >= int(nth)
    # each node was made once: the restarted engine adopted what existed at the crash,
    # also a node the provider had made whose result the crash kept from the store
    made = [e["node"] for e in after
            if e["step"] in ("provision", "adopt node") and e["outcome"] == "ok"]
    assert sorted(made) == names, after
    adopted = {e["node"] for e in after if e["step"] == "adopt node"}
    assert adopted <= at_crash["inventory"]
    _zookeeper_works(cluster["endpoints"]["zookeeper"], "/ndovu/crash")


def test_a_resize_killed_between_joins_and_between_departures_finishes(
        server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "kv_crash", "type": "etcd"})
        assert wait_operation(c, r.json()["id"], timeout=OP_TIMEOUT)["status"] == "COMPLETED"
        first = c.get("/v1/clusters/kv_crash").json()["nodeGroups"][0]["instances"]

    # grow 3 -> 5, killed right after the first new member joined
    _restart_to_crash_after(server, "start etcd:ok@1")
    with server.client() as c:
        r = c.put("/v1/clusters/kv_crash/nodegroups/etcd/instancenum",
                  json={"instanceNum": 5})
        assert r.status_code == 202, r.text
        grow = r.json()["id"]
    assert _crashed_then_restarted(server, grow)["cluster_status"] == "UPDATING"
    names = [f"kv_crash-etcd-{i}" for i in range(5)]
    with server.client() as c:
        op = wait_operation(c, grow, timeout=OP_TIMEOUT)
        assert op["status"] == "COMPLETED", op
    assert _inventory(server, "kv_crash") == names
    _one_process_per_node(server, names, ETCD)
    members = etcdctl(first[0]["ip"], "member", "list")
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == names

    # shrink 5 -> 3, killed after the first member was removed from etcd but before its
    # node was stopped and deleted: the restarted engine must finish that departure
    _restart_to_crash_after(server, "decommission etcd:ok@1")
    with server.client() as c:
        r = c.put("/v1/clusters/kv_crash/nodegroups/etcd/instancenum",
                  json={"instanceNum": 3})
        assert r.status_code == 202, r.text
        shrink = r.json()["id"]
    _crashed_then_restarted(server, shrink)
    with server.client() as c:
        op = wait_operation(c, shrink, timeout=OP_TIMEOUT)
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/kv_crash").json()
    assert _inventory(server, "kv_crash") == names[:3]
    assert [n["name"] for n in cluster["nodeGroups"][0]["instances"]] == names[:3]
    _one_process_per_node(server, names[:3], ETCD)
    for gone in names[3:]:
        assert not (server.state_dir / "nodes" / gone).exists()
    members = etcdctl(first[1]["ip"], "member", "list")
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == names[:3]
    assert etcdctl(first[2]["ip"], "put", "/ndovu/crash", "ok").strip() == "OK"


def test_a_delete_killed_after_its_first_node_finishes_and_leaves_nothing(
        server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "zk_gone", "type": "zookeeper"})
        assert wait_operation(c, r.json()["id"], timeout=OP_TIMEOUT)["status"] == "COMPLETED"
    _restart_to_crash_after(server, "delete node:ok@1")
    with server.client() as c:
        r = c.delete("/v1/clusters/zk_gone")
        assert r.status_code == 202, r.text
        op_id = r.json()["id"]
    at_crash = _crashed_then_restarted(server, op_id)
    assert at_crash["cluster_status"] == "DELETING"
    # the first deletion was recorded (others may have gone too before the crash)
    assert len(at_crash["inventory"]) < 3
    with server.client() as c:
        op = wait_operation(c, op_id, timeout=OP_TIMEOUT)
        assert op["status"] == "COMPLETED", op
        assert c.get("/v1/clusters/zk_gone").status_code == 404
        events = _events(c, op_id)
    deleted = [e["node"] for e in events if e["step"] == "delete node" and e["outcome"] == "ok"]
    # each node's deletion recorded once: those still there at the crash deleted by the
    # restarted server, those the provider had deleted unrecorded noted as already gone
    assert sorted(deleted) == [f"zk_gone-zookeeper-{i}" for i in range(3)], events
    assert _inventory(server, "zk_gone") == []
    assert processes_under(server.state_dir, ZK) == []
