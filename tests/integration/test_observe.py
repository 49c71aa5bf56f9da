"""Watching a running cluster, end to end: a real ndovu server looks at a real ZooKeeper
ensemble every second; a member killed behind its back turns its node SERVICE_UNHEALTHY
(with the probe's words) and the cluster SERVICE_WARNING, on /v1 and the BDE API alike,
and nothing is touched before the healing policy's unhealthyAfter; `start` brings the
member back as the member it was, and so does a HEAL operation by itself once
unhealthyAfter has passed; the data is all there. More members down than the policy's
maxUnhealthy: nothing is touched and the status says why. A member whose machine is gone
(ZooKeeper, etcd) is made again in its place and rejoins as itself; a heal cut short by
kill -9 of the server is finished by the restarted one."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kazoo.client import KazooClient

from tests.helpers import Server, etcdctl, kill_all, node_pids, wait_operation, wait_until

pytestmark = pytest.mark.integration

INTERVAL_S = 1.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "state", subnet="127.78.0.0/16",
                 env={"NDOVU_OBSERVE_INTERVAL_S": str(INTERVAL_S)}).start()
    yield srv
    srv.stop()
    kill_all(srv.state_dir)  # whatever a failed test left behind


def _heal(c: httpx.Client) -> dict | None:
    """The HEAL operation the server began by itself, if any."""
    ops = c.get("/v1/operations").json()["operations"]
    return next((op for op in ops if op["type"] == "HEAL"), None)


def _zk(hosts: str, work: Callable[[KazooClient], Any]) -> Any:
    """``work`` done with a ZooKeeper client of ``hosts``, closed afterwards."""
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=30)
    try:
        return work(zk)
    finally:
        zk.stop()
        zk.close()


def _nodes(cluster: dict) -> dict[str, dict]:
    return {n["name"]: n for g in cluster["nodeGroups"] for n in g["instances"]}


def test_a_killed_member_is_seen_left_alone_and_started_again(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "zw", "type": "zookeeper"})
        assert r.status_code == 202, r.text
        assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
        ensemble = c.get("/v1/clusters/zw").json()["endpoints"]["zookeeper"]
        _zk(ensemble, lambda zk: zk.create("/watched", b"still here"))

        victim = "zw-zookeeper-1"
        victim_ip = _nodes(c.get("/v1/clusters/zw").json())[victim]["ip"]
        for pid in node_pids(server.state_dir / "nodes" / victim):
            os.kill(pid, signal.SIGKILL)
        cluster = wait_until(
            lambda: (lambda cl: cl if cl["status"] == "SERVICE_WARNING" else None)(
                c.get("/v1/clusters/zw").json()),
            timeout=30, what="the cluster to turn SERVICE_WARNING")
        nodes = _nodes(cluster)
        assert nodes[victim]["status"] == "SERVICE_UNHEALTHY"
        assert nodes[victim]["errMessage"].startswith(
            "zookeeper not serving: zookeeper process is not running")
        assert " UTC)" in nodes[victim]["errMessage"]  # since when
        assert {n["status"] for name, n in nodes.items() if name != victim} == {
            "SERVICE_READY"}
        assert victim in cluster["errorMessage"]
        # the BDE API says the same
        bde_client = httpx.Client(base_url=server.url, trust_env=False, timeout=30)
        with bde_client as bde_session:
            r = bde_session.post("/serengeti/j_spring_security_check", data={
                "j_username": "admin", "j_password": server.admin_password})
            assert r.status_code == 200, r.text
            bde = bde_session.get("/serengeti/api/cluster/zw").json()
        assert bde["status"] == "SERVICE_WARNING"
        bde_nodes = {n["name"]: n for g in bde["nodeGroups"] for n in g["instances"]}
        assert bde_nodes[victim]["status"] == "SERVICE_UNHEALTHY"
        # the change is an event of the cluster
        events = c.get("/v1/clusters/zw/events").json()["events"]
        assert any(e["step"] == "observe" and e["node"] == victim
                   and "SERVICE_READY -> SERVICE_UNHEALTHY" in e["message"] for e in events)

        # healing waits unhealthyAfter (300 s by default): a few more looks touch
        # nothing and write nothing new
        seen = len(c.get("/v1/clusters/zw/events").json()["events"])
        time.sleep(3 * INTERVAL_S)  # three more looks
        assert node_pids(server.state_dir / "nodes" / victim) == []
        assert len(c.get("/v1/clusters/zw/events").json()["events"]) == seen

        # start brings the member back as itself (its myid, its data)
        r = c.post("/v1/clusters/zw/start")
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/zw").json()
        assert cluster["status"] == "RUNNING" and not cluster.get("errorMessage")
        assert {n["status"] for n in _nodes(cluster).values()} == {"SERVICE_READY"}
        assert _zk(f"{victim_ip}:2181", lambda zk: zk.get("/watched")[0]) == b"still here"
        assert wait_operation(c, c.delete("/v1/clusters/zw").json()["id"])["status"] == \
            "COMPLETED"


def test_a_killed_member_is_healed_by_itself_with_its_data(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "zh", "type": "zookeeper",
                                         "healing": {"unhealthyAfter": 2}})
        assert r.status_code == 202, r.text
        assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
        ensemble = c.get("/v1/clusters/zh").json()["endpoints"]["zookeeper"]
        _zk(ensemble, lambda zk: zk.create("/healed", b"kept"))

        victim = "zh-zookeeper-2"
        for pid in node_pids(server.state_dir / "nodes" / victim):
            os.kill(pid, signal.SIGKILL)

        op = wait_operation(c, wait_until(lambda: _heal(c), timeout=60,
                                          what="a HEAL operation")["id"])
        assert op["status"] == "COMPLETED", op
        events = c.get(f"/v1/operations/{op['id']}/events").json()["events"]
        assert any(e["step"] == "heal" and victim in e["message"] for e in events)
        assert any(e["step"] == "start zookeeper" and e["node"] == victim for e in events)
        cluster = c.get("/v1/clusters/zh").json()
        assert cluster["status"] == "RUNNING"
        assert node_pids(server.state_dir / "nodes" / victim) != []
        address = _nodes(cluster)[victim]["ip"]
        assert _zk(f"{address}:2181", lambda zk: zk.get("/healed")[0]) == b"kept"


def _etcd_members(address: str) -> dict[str, str]:
    """etcd's member list as name -> member id."""
    found = {}
    for line in etcdctl(address, "member", "list").splitlines():
        member_id, _, name, *_ = line.split(", ")
        found[name] = member_id
    return found


def test_an_etcd_node_whose_machine_is_gone_is_made_again_and_re_added(
        server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "eh", "type": "etcd",
                                         "healing": {"unhealthyAfter": 2}})
        assert r.status_code == 202, r.text
        assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
        nodes = _nodes(c.get("/v1/clusters/eh").json())
        first = nodes["eh-etcd-0"]["ip"]
        assert etcdctl(first, "put", "/ndovu/healed", "kept").strip() == "OK"
        before = _etcd_members(first)

        # the machine of eh-etcd-2 goes: its processes and its folder
        victim = "eh-etcd-2"
        kill_all(server.state_dir / "nodes" / victim)
        shutil.rmtree(server.state_dir / "nodes" / victim)

        op = wait_operation(c, wait_until(lambda: _heal(c), timeout=60,
                                          what="a HEAL operation")["id"])
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/eh").json()
        assert cluster["status"] == "RUNNING"
        fresh = _nodes(cluster)[victim]["ip"]
        # its old member removed, a new one added in its place; the data is all there
        after = _etcd_members(first)
        assert sorted(after) == sorted(before)
        assert after[victim] != before[victim]
        assert after["eh-etcd-1"] == before["eh-etcd-1"]
        assert etcdctl(fresh, "get", "/ndovu/healed").splitlines() == ["/ndovu/healed", "kept"]


def test_a_heal_cut_short_by_kill_9_is_finished_by_the_restarted_server(
        tmp_path: Path) -> None:
    # the server kills itself right after the heal started the member again (the fourth
    # "start zookeeper": three came from the create), before it saw the member healthy
    watched = {"NDOVU_OBSERVE_INTERVAL_S": str(INTERVAL_S)}
    srv = Server(tmp_path / "state", subnet="127.80.0.0/16",
                 env={**watched, "NDOVU_CRASH_AFTER": "start zookeeper:ok@4"}).start()
    try:
        with srv.client() as c:
            r = c.post("/v1/clusters", json={"name": "zc", "type": "zookeeper",
                                             "healing": {"unhealthyAfter": 1}})
            assert r.status_code == 202, r.text
            assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
        victim = srv.state_dir / "nodes" / "zc-zookeeper-0"
        kill_all(victim)
        assert srv.proc is not None and srv.proc.wait(120) == -signal.SIGKILL
        srv.extra_env = watched
        srv.start()
        with srv.client() as c:
            op = wait_operation(c, _heal(c)["id"])
            assert op["status"] == "COMPLETED", op
            assert c.get("/v1/clusters/zc").json()["status"] == "RUNNING"
        # one member per node: the heal's start was not repeated into a second one
        for name in (f"zc-zookeeper-{i}" for i in range(3)):
            assert len(node_pids(srv.state_dir / "nodes" / name)) == 1, name
    finally:
        srv.stop()
        kill_all(srv.state_dir)


def test_too_many_unwell_are_left_alone_then_a_gone_machine_is_replaced_as_itself(
        tmp_path: Path) -> None:
    srv = Server(tmp_path / "state", subnet="127.82.0.0/16",
                 env={"NDOVU_OBSERVE_INTERVAL_S": str(INTERVAL_S)}).start()
    try:
        with srv.client() as c:
            r = c.post("/v1/clusters", json={
                "name": "zr", "type": "zookeeper",
                "healing": {"unhealthyAfter": 1, "maxUnhealthy": 1}})
            assert r.status_code == 202, r.text
            assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
            ensemble = c.get("/v1/clusters/zr").json()["endpoints"]["zookeeper"]
            _zk(ensemble, lambda zk: zk.create("/replaced", b"synced"))
            nodes_dir = srv.state_dir / "nodes"

            # two of three members killed: the third, without a quorum, stops serving
            # too; more unwell than maxUnhealthy allows, so the status says why and
            # nothing is touched, look after look
            for victim in ("zr-zookeeper-0", "zr-zookeeper-1"):
                kill_all(nodes_dir / victim)
            cluster = wait_until(
                lambda: (lambda cl: cl if cl["status"] == "SERVICE_STOPPED" else None)(
                    c.get("/v1/clusters/zr").json()),
                timeout=30, what="the cluster to turn SERVICE_STOPPED")
            assert "3 unwell is more than healing's maxUnhealthy" in cluster["errorMessage"]
            assert "repairs nothing" in cluster["errorMessage"]
            time.sleep(4 * INTERVAL_S)  # past unhealthyAfter, four more looks
            assert _heal(c) is None
            assert node_pids(nodes_dir / "zr-zookeeper-0") == []
            assert node_pids(nodes_dir / "zr-zookeeper-1") == []

            # the user starts them again
            r = c.post("/v1/clusters/zr/start")
            assert r.status_code == 202, r.text
            assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
            assert c.get("/v1/clusters/zr").json()["status"] == "RUNNING"

            # one machine gone, processes and folder: NOT_EXIST, then made again with
            # the same name and myid, and it syncs the data from the leader
            victim = "zr-zookeeper-2"
            myid = (nodes_dir / victim / "data" / "myid").read_text()
            kill_all(nodes_dir / victim)
            shutil.rmtree(nodes_dir / victim)
            op = wait_operation(c, wait_until(lambda: _heal(c), timeout=60,
                                              what="a HEAL operation")["id"])
            assert op["status"] == "COMPLETED", op
            events = c.get("/v1/clusters/zr/events").json()["events"]
            assert any(e["step"] == "observe" and e["node"] == victim
                       and "-> NOT_EXIST" in e["message"] for e in events)
            cluster = c.get("/v1/clusters/zr").json()
            assert cluster["status"] == "RUNNING"
            assert (nodes_dir / victim / "data" / "myid").read_text() == myid
            member = f"{_nodes(cluster)[victim]['ip']}:2181"
            assert _zk(member, lambda zk: zk.get("/replaced")[0]) == b"synced"
    finally:
        srv.stop()
        kill_all(srv.state_dir)
