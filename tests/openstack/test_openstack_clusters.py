"""End to end on OpenStack: `ndovu server --provider openstack` deploys ZooKeeper onto
servers of the real test cloud, whose computes boot each server as a test-bed host (a
Debian machine in a network namespace, tests/openstack/nova_testbed). ndovu makes each
node's port first, boots the server on it with the cluster's key pair, logs in over SSH
with that key, installs ZooKeeper from the host's package repository and starts it; the
test talks to the members at their ports' addresses. Stop and start act on the servers;
a server process killed mid-create is followed by one that adopts what it made; etcd
resizes 3 → 4 → 3 with real member changes; delete leaves nothing of the cluster in Nova
or Neutron."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kazoo.client import KazooClient
from openstack.connection import Connection

from tests.helpers import Server, etcdctl, run_completed, wait_operation, wait_until
from tests.openstack.cloud import IMAGE, Cloud
from tests.openstack.test_openstack_provider import NOTHING, _left_of

pytestmark = [pytest.mark.openstack, pytest.mark.integration, pytest.mark.testbed]


@pytest.fixture
def server(cloud: Cloud, project: Connection, tmp_path: Path) -> Iterator[Server]:
    network, _ = cloud.make_testbed_network()
    options = {"auth": cloud.auth(), "network": network.name, "image": IMAGE}
    srv = Server(tmp_path / "state", subnet="127.96.0.0/16", env={
        "NDOVU_PROVIDER": "openstack", "NDOVU_PROVIDER_OPTIONS": json.dumps(options)}).start()
    yield srv
    srv.stop()


def _read(address: str, path: str) -> bytes:
    client = KazooClient(hosts=f"{address}:2181", timeout=10)
    client.start(timeout=30)
    try:
        return client.get(path)[0]
    finally:
        client.stop()


def test_zookeeper_on_openstack_servers(cloud: Cloud, project: Connection,
                                        server: Server) -> None:
    with server.client() as c:
        run_completed(c, "POST", "/v1/clusters", name="zk", type="zookeeper")
        cluster = c.get("/v1/clusters/zk").json()
        nodes = [n for g in cluster["nodeGroups"] for n in g["instances"]]
        assert len(nodes) == 3 and {n["status"] for n in nodes} == {"SERVICE_READY"}

        # each node is a server on the port ndovu made for it first, at that port's
        # address, with the cluster's key pair; spread over both computes
        admin = cloud.admin
        computes = set()
        for node in nodes:
            port = next(project.network.ports(name=f"{node['name']}-port0"))
            found = admin.compute.get_server(port.device_id)
            assert (found.name, found.status, found.key_name) == (
                node["name"], "ACTIVE", "ndovu-zk")
            assert port.fixed_ips[0]["ip_address"] == node["ip"]
            computes.add(found.compute_host)
        assert computes == {"compute-1", "compute-2"}  # soft anti-affinity

        first, third = nodes[0]["ip"], nodes[2]["ip"]
        writer = KazooClient(hosts=f"{first}:2181", timeout=10)
        writer.start(timeout=30)
        writer.create("/ndovu-openstack", b"written via the first server")
        writer.stop()
        assert _read(third, "/ndovu-openstack") == b"written via the first server"

        run_completed(c, "POST", "/v1/clusters/zk/stop")
        statuses = {s.name: s.status for s in project.compute.servers()}
        assert statuses == {n["name"]: "SHUTOFF" for n in nodes}
        run_completed(c, "POST", "/v1/clusters/zk/start")
        assert _read(nodes[1]["ip"], "/ndovu-openstack") == b"written via the first server"

        run_completed(c, "DELETE", "/v1/clusters/zk")
    assert _left_of(project, "zk") == NOTHING


def test_etcd_on_openstack_through_a_kill_mid_create_and_two_resizes(
        project: Connection, server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "et", "type": "etcd"})
        assert r.status_code == 202, r.text
        op_id = r.json()["id"]
    # killed while the first servers boot: the next server process adopts them
    wait_until(lambda: list(project.compute.servers()), timeout=60, what="a first server")
    server.stop(signal.SIGKILL)
    server.start()
    with server.client() as c:
        op = wait_operation(c, op_id, timeout=600)
        assert op["status"] == "COMPLETED", op
        ips = [n["ip"] for n in _nodes(c, "et")]
        assert len(ips) == 3
        # no duplicate and no orphan: one server and one port per node
        assert sorted(s.name for s in project.compute.servers()) == [
            f"et-etcd-{i}" for i in range(3)]
        assert sorted(p.name for p in project.network.ports()
                      if p.name.startswith("et-")) == [f"et-etcd-{i}-port0" for i in range(3)]
        etcdctl(ips[0], "put", "via-first", "openstack")
        assert "openstack" in etcdctl(ips[2], "get", "via-first")

        run_completed(c, "PUT", "/v1/clusters/et/nodegroups/etcd/instancenum", instanceNum=4)
        fourth = _nodes(c, "et")[3]["ip"]
        assert len(etcdctl(fourth, "member", "list").strip().splitlines()) == 4
        assert "openstack" in etcdctl(fourth, "get", "via-first")
        run_completed(c, "PUT", "/v1/clusters/et/nodegroups/etcd/instancenum", instanceNum=3)
        assert len(etcdctl(ips[0], "member", "list").strip().splitlines()) == 3
        assert sorted(s.name for s in project.compute.servers()) == [
            f"et-etcd-{i}" for i in range(3)]

        run_completed(c, "DELETE", "/v1/clusters/et")
    assert _left_of(project, "et") == NOTHING


def _nodes(client: httpx.Client, name: str) -> list[dict]:
    cluster = client.get(f"/v1/clusters/{name}").json()
    return sorted((n for g in cluster["nodeGroups"] for n in g["instances"]),
                  key=lambda n: n["name"])
