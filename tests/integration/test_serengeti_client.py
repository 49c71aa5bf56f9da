"""A BDE REST client, written like the seeds' scripts (requests.Session, form login, JSON
bodies, the task in ``Location`` polled until it ends), drives a real ndovu server through
/serengeti/api only: a network and a resource pool, then a real etcd cluster on that
network, stopped, resumed, resized with a bare-integer body, and deleted.

The nodes' addresses come from the network's ipBlocks (127.73.x), not from the server's
own subnet (127.72.x): the network is honoured, not merely stored.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import Server, etcdctl, processes_under

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite, PostgreSQL
# and MariaDB
pytestmark = [pytest.mark.integration, pytest.mark.database]

BLOCK = ("127.73.0.10", "127.73.0.20")
TASK_TIMEOUT = 120
JSON = {"content-type": "application/json"}


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "state", subnet="127.72.0.0/16").start()
    yield srv
    srv.stop()
    for pid in processes_under(srv.state_dir):  # whatever a failed test left behind
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def connect(server: Server) -> requests.Session:
    """BDE's form login, as the seed Heat plugin does it."""
    session = requests.session()
    creds = "j_username=admin&j_password=" + server.admin_password
    r = session.post(server.url + "/serengeti/j_spring_security_check", creds,
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert session.cookies.get("JSESSIONID")
    return session


def api(server: Server, path: str) -> str:
    return server.url + "/serengeti/api/" + path


def follow(session: requests.Session, r: requests.Response, server: Server) -> dict[str, Any]:
    """A 202's task, polled (BDE's CLI polls every 3 s; a test may be quicker) to its end."""
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    assert location.startswith(api(server, "task/")), location
    deadline = time.monotonic() + TASK_TIMEOUT
    while time.monotonic() < deadline:
        task = session.get(location, headers=JSON).json()
        assert 0.0 <= task["progress"] <= 1.0, task
        if task["status"] in ("COMPLETED", "FAILED", "ABANDONED", "STOPPED"):
            assert task["status"] == "COMPLETED", task
            assert task["progress"] == 1.0
            return task
        time.sleep(0.3)
    raise AssertionError(f"task {location} did not end in {TASK_TIMEOUT} s")


def nodes(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def address(node: dict[str, Any]) -> str:
    return node["ipConfigs"]["MGT_NETWORK"][0]["ipAddress"]


def in_block(ip: str) -> bool:
    value = ipaddress.IPv4Address(ip)
    return ipaddress.IPv4Address(BLOCK[0]) <= value <= ipaddress.IPv4Address(BLOCK[1])


def test_a_bde_client_runs_an_etcd_cluster_on_its_network(server: Server) -> None:
    s = connect(server)

    # the seed plugin first asks whether the network exists
    r = s.get(api(server, "network/net1"), headers=JSON)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    payload = {"name": "net1", "portGroup": "pg-net1", "isDhcp": "false",
               "ipBlocks": [{"beginIp": BLOCK[0], "endIp": BLOCK[1]}],
               "dns1": "127.0.0.53", "netmask": "255.255.0.0"}
    r = s.post(api(server, "networks"), data=json.dumps(payload), headers=JSON)
    assert r.status_code == 200, r.text
    payload = {"name": "rp1", "vcClusterName": "local", "cpuLimit": 8, "memLimitMB": 16000}
    r = s.post(api(server, "resourcepools"), data=json.dumps(payload), headers=JSON)
    assert r.status_code == 200, r.text

    payload = {"name": "bde_etcd", "type": "etcd", "nodeGroups": [],
               "networkConfig": {"MGT_NETWORK": ["net1"]}, "rpNames": ["rp1"],
               # BDE fields ndovu accepts and ignores
               "localRepoURL": "https://bde.localdomain/yum", "templateName": "hadoop-template"}
    task = follow(s, s.post(api(server, "clusters"), data=json.dumps(payload),
                            headers=JSON), server)
    assert task["target"] == "bde_etcd" and task["type"] == "INNER"
    assert sorted(n["nodeName"] for n in task["succeedNodes"]) == [
        f"bde_etcd-etcd-{i}" for i in range(3)]

    cluster = s.get(api(server, "cluster/bde_etcd"), headers=JSON).json()
    assert cluster["status"] == "RUNNING" and cluster["instanceNum"] == 3
    assert cluster["distro"] == "etcd" and cluster["resourcePools"][0]["rpName"] == "rp1"
    members = nodes(cluster)
    assert len(members) == 3
    assert {n["status"] for n in members} == {"SERVICE_READY"}
    assert all(in_block(address(n)) for n in members), [address(n) for n in members]
    assert etcdctl(address(members[0]), "put", "/bde/key", "via member 0").strip() == "OK"
    assert etcdctl(address(members[2]), "get", "/bde/key").splitlines() == [
        "/bde/key", "via member 0"]

    net = s.get(api(server, "network/net1"), headers=JSON).json()
    assert sorted(e["ipAddress"] for e in net["ipAllocEntries"]) == sorted(
        address(n) for n in members)
    assert net["freeAddresses"] == 11 - 3 and net["clusters"] == ["bde_etcd"]
    pool = s.get(api(server, "resourcepool/rp1"), headers=JSON).json()
    assert (pool["cpuUsed"], pool["memUsedMB"], pool["clusters"]) == (3, 3 * 3748,
                                                                      ["bde_etcd"])
    r = s.delete(api(server, "network/net1"), headers=JSON)
    assert r.status_code == 409 and "bde_etcd" in r.json()["error"]["message"]

    # as the seed's stopRestAPI.py asks: the state in a JSON body, not in ?state=
    follow(s, s.put(api(server, "cluster/bde_etcd"), json={"state": "stop"}, headers=JSON),
           server)
    cluster = s.get(api(server, "cluster/bde_etcd"), headers=JSON).json()
    assert cluster["status"] == "STOPPED"
    assert {n["status"] for n in nodes(cluster)} == {"POWERED_OFF"}

    follow(s, s.put(api(server, "cluster/bde_etcd/action?state=resume"), headers=JSON),
           server)
    cluster = s.get(api(server, "cluster/bde_etcd"), headers=JSON).json()
    assert cluster["status"] == "RUNNING"
    assert {n["status"] for n in nodes(cluster)} == {"SERVICE_READY"}
    assert [address(n) for n in nodes(cluster)] == [address(n) for n in members]
    assert etcdctl(address(members[1]), "get", "/bde/key").splitlines() == [
        "/bde/key", "via member 0"]

    # BDE's resize body is a bare integer
    follow(s, s.put(api(server, "cluster/bde_etcd/nodegroup/etcd/instancenum"), data="4",
                    headers=JSON), server)
    cluster = s.get(api(server, "cluster/bde_etcd"), headers=JSON).json()
    grown = nodes(cluster)
    assert [n["name"] for n in grown] == [f"bde_etcd-etcd-{i}" for i in range(4)]
    assert {n["status"] for n in grown} == {"SERVICE_READY"}
    assert in_block(address(grown[3])) and address(grown[3]) not in [
        address(n) for n in members]
    assert etcdctl(address(grown[3]), "get", "/bde/key").splitlines() == [
        "/bde/key", "via member 0"]
    pool = s.get(api(server, "resourcepool/rp1"), headers=JSON).json()
    assert (pool["cpuUsed"], pool["memUsedMB"]) == (4, 4 * 3748)

    spec = s.get(api(server, "cluster/bde_etcd/spec"), headers=JSON).json()
    assert spec["networkConfig"] == {"MGT_NETWORK": ["net1"]} and spec["rpNames"] == ["rp1"]
    assert spec["nodeGroups"][0]["instanceNum"] == 4 and "password" not in spec

    task = follow(s, s.delete(api(server, "cluster/bde_etcd"), headers=JSON), server)
    assert task["type"] == "DELETE"
    r = s.get(api(server, "cluster/bde_etcd"), headers=JSON)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert processes_under(server.state_dir, "--initial-cluster-token=") == []
    # nothing uses them any more
    assert s.delete(api(server, "network/net1"), headers=JSON).status_code == 200
    assert s.delete(api(server, "resourcepool/rp1"), headers=JSON).status_code == 200

    tasks = s.get(api(server, "tasks"), headers=JSON).json()
    assert [t["status"] for t in tasks] == ["COMPLETED"] * 5

    # logged out, the same cookie no longer works
    cookie = s.cookies.get("JSESSIONID")
    # only by POST: a GET (a link, an image on any page) changes nothing
    r = s.get(server.url + "/serengeti/j_spring_security_logout")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert s.get(api(server, "clusters"), headers=JSON).status_code == 200
    assert s.post(server.url + "/serengeti/j_spring_security_logout").status_code == 200
    r = requests.get(api(server, "clusters"), cookies={"JSESSIONID": cookie})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
