"""End to end on other machines: a real ndovu server with the `machines` provider deploys
ZooKeeper and etcd onto test-bed hosts (separate Debian machines in network namespaces)
over SSH. ndovu installs the software inside the hosts from their package repository,
starts it as services there, and the test talks to the members at the hosts' addresses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kazoo.client import KazooClient

from tests.helpers import Server, etcdctl, run_completed, wait_operation
from tests.testbed import Host, TestBed
from tests.testbed.fixtures import module_hosts

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

NODE_ROOT = "/var/lib/ndovu/nodes"


hosts = module_hosts(4, "mach")


@pytest.fixture
def server(tmp_path: Path, testbed: TestBed, hosts: list[Host]) -> Iterator[Server]:
    srv = Server(tmp_path / "state", subnet="127.65.0.0/16",
                 args=("--provider", "machines")).start()
    key = testbed.operator_key.read_text()
    with srv.client() as c:
        for host in hosts[:3]:
            r = c.post("/v1/machines", json={"name": host.name, "address": host.address,
                                             "user": "root", "privateKey": key})
            assert r.status_code == 201, r.text
    yield srv
    with srv.client() as c, contextlib.suppress(httpx.HTTPError):
        for cluster in c.get("/v1/clusters").json().get("clusters", []):
            wait_operation(c, c.delete(f"/v1/clusters/{cluster['name']}").json()["id"])
    srv.stop()


def _nodes(client: httpx.Client, name: str) -> list[dict]:
    cluster = client.get(f"/v1/clusters/{name}").json()
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def _ndovu_processes(host: Host) -> list[str]:
    """Processes on the host that ndovu started (their environment names a node root)."""
    found = host.run(["sh", "-c", "grep -l NDOVU_NODE_ROOT= /proc/[0-9]*/environ"
                                  " 2>/dev/null || true"])
    return [line for line in found.stdout.split() if line]


def test_zookeeper_on_three_machines(server: Server, hosts: list[Host]) -> None:
    by_address = {h.address: h for h in hosts}
    with server.client() as c:
        run_completed(c, "POST", "/v1/clusters", name="zkm", type="zookeeper")
        nodes = _nodes(c, "zkm")
        assert {n["status"] for n in nodes} == {"SERVICE_READY"}
        # one node per machine, each at its machine's address
        assert sorted(n["ip"] for n in nodes) == sorted(h.address for h in hosts[:3])
        machines = {m["name"]: m for m in c.get("/v1/machines").json()["machines"]}
        assert all(machines[h.name]["status"] == "assigned" for h in hosts[:3])
        # the software was installed inside the hosts by ndovu and runs there
        for node in nodes:
            host = by_address[node["ip"]]
            assert host.run(["test", "-f", "/usr/share/java/zookeeper.jar"]).returncode == 0
            ps = host.run(["pgrep", "-f", "QuorumPeerMain"])
            assert ps.returncode == 0, f"no ZooKeeper member runs on {host.name}"
        first, third = (KazooClient(hosts=f"{a}:2181", timeout=10)
                        for a in (hosts[0].address, hosts[2].address))
        first.start(timeout=20)
        first.create("/ndovu-machines", b"written via the first machine")
        first.stop()
        third.start(timeout=20)
        assert third.get("/ndovu-machines")[0] == b"written via the first machine"
        third.stop()

        run_completed(c, "POST", "/v1/clusters/zkm/stop")
        assert all(not _ndovu_processes(h) for h in hosts[:3])
        run_completed(c, "POST", "/v1/clusters/zkm/start")
        again = KazooClient(hosts=f"{hosts[1].address}:2181", timeout=10)
        again.start(timeout=30)
        assert again.get("/ndovu-machines")[0] == b"written via the first machine"
        again.stop()

        run_completed(c, "DELETE", "/v1/clusters/zkm")
        machines = {m["name"]: m for m in c.get("/v1/machines").json()["machines"]}
        assert all(machines[h.name]["status"] == "free" for h in hosts[:3])
    for host in hosts[:3]:
        assert not _ndovu_processes(host), f"ndovu left processes on {host.name}"
        assert host.run(["sh", "-c", f"ls -A {NODE_ROOT} 2>/dev/null"]).stdout.strip() == ""


def test_etcd_on_machines_resized_across_hosts(server: Server, testbed: TestBed,
                                               hosts: list[Host]) -> None:
    with server.client() as c:
        run_completed(c, "POST", "/v1/clusters", name="etm", type="etcd")
        etcdctl(hosts[0].address, "put", "via-first", "machines")
        assert "machines" in etcdctl(hosts[2].address, "get", "via-first")
        # a fourth machine for the fourth member
        r = c.post("/v1/machines", json={"name": hosts[3].name, "address": hosts[3].address,
                                         "user": "root",
                                         "privateKey": testbed.operator_key.read_text()})
        assert r.status_code == 201, r.text
        run_completed(c, "PUT", "/v1/clusters/etm/nodegroups/etcd/instancenum", instanceNum=4)
        members = etcdctl(hosts[3].address, "member", "list")
        assert len(members.strip().splitlines()) == 4
        assert "machines" in etcdctl(hosts[3].address, "get", "via-first")
        run_completed(c, "PUT", "/v1/clusters/etm/nodegroups/etcd/instancenum", instanceNum=3)
        remaining = [n["ip"] for n in _nodes(c, "etm")]
        assert len(etcdctl(remaining[0], "member", "list").strip().splitlines()) == 3
        run_completed(c, "DELETE", "/v1/clusters/etm")
        assert c.delete(f"/v1/machines/{hosts[3].name}").status_code == 204
    for host in hosts:
        assert not _ndovu_processes(host), f"ndovu left processes on {host.name}"
