"""End to end: a real ndovu server deploys a real 3-member etcd cluster."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.helpers import Server, etcdctl, processes_under, wait_operation

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration

# a flag only etcd's command line carries (the server's own command line names the state
# dir too, and the test's directory name may contain "etcd")
ETCD = "--initial-cluster-token="


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "state", subnet="127.64.0.0/16").start()
    yield srv
    srv.stop()
    # whatever a failed test left behind: no process may outlive the test
    for pid in processes_under(srv.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _create(server: Server, body: dict) -> dict:
    with server.client() as c:
        r = c.post("/v1/clusters", json=body)
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        return c.get(f"/v1/clusters/{body['name']}").json()


def _delete(server: Server, name: str) -> None:
    with server.client() as c:
        r = c.delete(f"/v1/clusters/{name}")
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        assert c.get(f"/v1/clusters/{name}").status_code == 404


def _nodes(cluster: dict) -> list[dict]:
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_create_put_get_delete(server: Server) -> None:
    cluster = _create(server, {"name": "etcd_e2e", "type": "etcd"})
    assert cluster["status"] == "RUNNING"
    nodes = _nodes(cluster)
    assert [n["name"] for n in nodes] == [f"etcd_e2e-etcd-{i}" for i in range(3)]
    assert {n["status"] for n in nodes} == {"SERVICE_READY"}
    addresses = [n["ip"] for n in nodes]
    assert len(set(addresses)) == 3 and all(a.startswith("127.64.") for a in addresses)
    assert cluster["endpoints"]["etcd"] == ",".join(f"http://{a}:2379" for a in addresses)
    assert len(processes_under(server.state_dir, ETCD)) == 3

    # written via member 1, read via member 3
    assert etcdctl(addresses[0], "put", "/ndovu/e2e", "hello").strip() == "OK"
    assert etcdctl(addresses[2], "get", "/ndovu/e2e").splitlines() == ["/ndovu/e2e", "hello"]
    members = etcdctl(addresses[1], "member", "list").splitlines()
    assert sorted(line.split(", ")[2] for line in members) == [n["name"] for n in nodes]

    # every step left an event
    with server.client() as c:
        events = c.get(f"/v1/operations/{cluster['operation']['id']}/events").json()["events"]
    steps = {(e["step"], e["node"]) for e in events if e["outcome"] == "ok"}
    for node in nodes:
        assert ("start etcd", node["name"]) in steps
        assert ("service ready", node["name"]) in steps

    _delete(server, "etcd_e2e")
    assert processes_under(server.state_dir, ETCD) == []
    nodes_dir = server.state_dir / "nodes"
    assert not nodes_dir.exists() or not [p for p in nodes_dir.iterdir() if p.is_dir()]


def test_configuration_reaches_every_member(server: Server) -> None:
    cluster = _create(server, {"name": "etcd_tuned", "type": "etcd",
                               "configuration": {"etcd": {"election-timeout": 1500}}})
    assert cluster["status"] == "RUNNING"
    pids = processes_under(server.state_dir, ETCD)
    assert len(pids) == 3
    for pid in pids:
        assert "--election-timeout=1500" in _cmdline(pid)
        assert "--heartbeat-interval=100" in _cmdline(pid)  # the default, said explicitly
    _delete(server, "etcd_tuned")
    assert processes_under(server.state_dir, ETCD) == []


def test_unknown_setting_is_refused_and_creates_nothing(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "etcd_bad", "type": "etcd",
                                         "configuration": {"etcd": {"no-such-flag": 1}}})
        assert 400 <= r.status_code < 500, r.text
        error = r.json()["error"]
        assert "no-such-flag" in error["message"], error
        assert error["field"] == "configuration.etcd.no-such-flag", error
        assert "election-timeout" in error.get("hint", ""), error  # what is settable
        assert c.get("/v1/clusters/etcd_bad").status_code == 404
        assert c.get("/v1/clusters").json()["clusters"] == []
    assert processes_under(server.state_dir, ETCD) == []
    nodes_dir = server.state_dir / "nodes"
    assert not nodes_dir.exists() or not [p for p in nodes_dir.iterdir() if p.is_dir()]
