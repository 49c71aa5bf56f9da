"""Faults on other machines: a host cut off in the middle of a create, a changed host key,
a key the machine refuses. Real `ndovu server` processes, test-bed hosts over SSH."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ndovu.transports.ssh import SshConnections, SshTarget, SshTransport
from tests.helpers import Server, wait_operation, wait_until
from tests.testbed import Host, TestBed
from tests.testbed.fixtures import module_hosts

pytestmark = [pytest.mark.integration, pytest.mark.testbed]


hosts = module_hosts(3, "fault")


def _server(state: Path) -> Server:
    # short reach timeout: a host that is cut off is given up on in seconds, not minutes
    return Server(state, subnet="127.66.0.0/16",
                  args=("--provider", "machines",
                        "--provider-option", "reach_timeout_s=3")).start()


def _register(srv: Server, hosts: list[Host], key: str) -> None:
    with srv.client() as c:
        for host in hosts:
            r = c.post("/v1/machines", json={"name": host.name, "address": host.address,
                                             "privateKey": key})
            assert r.status_code == 201, r.text


@pytest.fixture
def server(tmp_path: Path, testbed: TestBed, hosts: list[Host]) -> Iterator[Server]:
    srv = _server(tmp_path / "state")
    _register(srv, hosts, testbed.operator_key.read_text())
    yield srv
    srv.stop()
    srv.start()  # a clean delete of whatever a failed test left, on reachable hosts
    for host in hosts:
        host.restore()
    with srv.client() as c, contextlib.suppress(httpx.HTTPError, AssertionError):
        for cluster in c.get("/v1/clusters").json().get("clusters", []):
            wait_operation(c, c.delete(f"/v1/clusters/{cluster['name']}",
                                       params={"force": "true"}).json()["id"])
    srv.stop()


@pytest.fixture(autouse=True)
def clean_hosts(hosts: list[Host]) -> None:
    """Each test meets hosts with no node on them: the hosts live for the whole module,
    and what an earlier test could not delete (a host whose key changed, one cut off)
    would hold the ports its nodes need."""
    for host in hosts:
        host.restore()
        host.run(["pkill", "-9", "-f", "QuorumPeerMain"])
        host.run(["rm", "-rf", "--", "/var/lib/ndovu/nodes"])


def _submit(client: httpx.Client, method: str, path: str) -> int:
    r = client.request(method, path, json={"name": "zkf", "type": "zookeeper"}
                       if method == "POST" else None)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_a_host_cut_off_mid_create_fails_its_node_and_start_completes_it(
        server: Server, hosts: list[Host]) -> None:
    cut = hosts[1]
    with server.client() as c:
        op_id = _submit(c, "POST", "/v1/clusters")
        # cut once ndovu is working on the nodes: its connection to the host breaks
        wait_until(lambda: c.get(f"/v1/operations/{op_id}").json()["status"] == "STARTED",
                   timeout=30, what="the create to start")
        cut.cut()
        op = wait_operation(c, op_id, timeout=300)
        assert op["status"] == "FAILED", op
        cluster = c.get("/v1/clusters/zkf").json()
        assert cluster["status"] == "PROVISION_ERROR"
        node = next(n for g in cluster["nodeGroups"] for n in g["instances"]
                    if n["ip"] == cut.address)
        # the error names the machine and what the transport saw
        assert cut.address in node["errMessage"], node
        assert node["name"] in op["errorMessage"]
        cut.restore()
        op = wait_operation(c, _submit(c, "POST", "/v1/clusters/zkf/start"), timeout=300)
        assert op["status"] == "COMPLETED", op
        nodes = [n for g in c.get("/v1/clusters/zkf").json()["nodeGroups"]
                 for n in g["instances"]]
        assert {n["status"] for n in nodes} == {"SERVICE_READY"}
        # one member per host, never two: the retried install started nothing twice
        for host in hosts:
            members = host.run(["pgrep", "-c", "-f", "QuorumPeerMain"]).stdout.strip()
            assert members == "1", f"{host.name} runs {members} ZooKeeper members"


def test_a_changed_host_key_is_refused_naming_the_node(server: Server,
                                                       hosts: list[Host]) -> None:
    with server.client() as c:
        op = wait_operation(c, _submit(c, "POST", "/v1/clusters"), timeout=300)
        assert op["status"] == "COMPLETED", op
    changed = hosts[2]
    changed.change_host_key()
    server.stop()  # its kept connections go: the next one meets the new key
    server.start()
    with server.client() as c:
        op = wait_operation(c, _submit(c, "POST", "/v1/clusters/zkf/stop"), timeout=120)
        assert op["status"] == "FAILED", op
        assert "host key" in op["errorMessage"] and changed.address in op["errorMessage"]
        # never retried: a changed key needs an operator
        events = c.get(f"/v1/operations/{op['id']}/events").json()["events"]
        assert not [e for e in events if e["outcome"] == "retrying"]


def test_a_key_the_machine_refuses_is_a_clear_error(tmp_path: Path, hosts: list[Host]) -> None:
    wrong = tmp_path / "wrong_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)],
                   check=True)
    srv = _server(tmp_path / "state")
    try:
        _register(srv, hosts, wrong.read_text())
        with srv.client() as c:
            op = wait_operation(c, _submit(c, "POST", "/v1/clusters"), timeout=120)
            assert op["status"] == "FAILED", op
            text = op["errorMessage"]
            assert "key" in text and any(h.address in text for h in hosts), text
            assert "PRIVATE KEY" not in text and wrong.read_text()[40:80] not in text
    finally:
        srv.stop()


def test_a_server_killed_mid_create_installs_and_starts_nothing_twice(
        tmp_path: Path, testbed: TestBed, hosts: list[Host]) -> None:
    # SIGKILL right after the second member is recorded as started: the third may be
    # half-started, its software half-installed
    state = tmp_path / "state"
    crashing = Server(state, subnet="127.66.0.0/16",
                      args=("--provider", "machines"),
                      env={"NDOVU_CRASH_AFTER": "start zookeeper:ok@2"}).start()
    _register(crashing, hosts, testbed.operator_key.read_text())
    with crashing.client() as c:
        _submit(c, "POST", "/v1/clusters")
    assert crashing.proc is not None
    crashing.proc.wait(300)
    assert crashing.proc.returncode == -9
    again = Server(state, subnet="127.66.0.0/16", port=crashing.port,
                   args=("--provider", "machines")).start()
    try:
        with again.client() as c:
            latest = c.get("/v1/clusters/zkf").json()["operation"]
            op = wait_operation(c, latest["id"], timeout=300)
            assert op["status"] == "COMPLETED", op["errorMessage"]
            machines = {m["name"]: m for m in c.get("/v1/machines").json()["machines"]}
            # every node on its own machine: none was claimed twice after the crash
            assert sorted(m["node"] for m in machines.values()) == [
                f"zkf-zookeeper-{i}" for i in range(3)]
            for host in hosts:
                members = host.run(["pgrep", "-c", "-f", "QuorumPeerMain"]).stdout.strip()
                assert members == "1", f"{host.name} runs {members} ZooKeeper members"
            op = wait_operation(c, c.delete("/v1/clusters/zkf").json()["id"], timeout=300)
            assert op["status"] == "COMPLETED", op
    finally:
        again.stop()


def test_an_install_cut_off_earlier_is_finished_by_the_next_one(
        tmp_path: Path, testbed: TestBed, hosts: list[Host]) -> None:
    # what a server or connection that died mid-install leaves: a dpkg journal entry, on
    # which apt refuses everything ("dpkg was interrupted, you must manually run …")
    host = hosts[0]
    host.run(["touch", "/var/lib/dpkg/updates/0000"], check=True)
    refused = host.run(["apt-get", "install", "-y", "--no-install-recommends", "etcd-client"])
    assert refused.returncode != 0 and "dpkg was interrupted" in refused.stderr
    connections = SshConnections()
    try:
        transport = SshTransport(SshTarget(
            node="n1", host=host.address, private_key=testbed.operator_key.read_text(),
            root=str(tmp_path / "n1")), connections)
        transport.install_packages(["etcd-client"], timeout=300)
        assert host.run(["dpkg", "-s", "etcd-client"]).returncode == 0
        assert not list_updates(host)
    finally:
        connections.close()
        host.run(["apt-get", "purge", "-y", "etcd-client"], check=False)


def list_updates(host: Host) -> list[str]:
    return host.run(["ls", "/var/lib/dpkg/updates"]).stdout.split()


def test_a_forced_delete_gives_up_on_a_cut_off_host_and_frees_its_machine(
        server: Server, hosts: list[Host]) -> None:
    with server.client() as c:
        op = wait_operation(c, _submit(c, "POST", "/v1/clusters"), timeout=300)
        assert op["status"] == "COMPLETED", op
        cut = hosts[0]
        node = next(n["name"] for g in c.get("/v1/clusters/zkf").json()["nodeGroups"]
                    for n in g["instances"] if n["ip"] == cut.address)
        cut.cut()
        r = c.delete("/v1/clusters/zkf", params={"force": "true"})
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"], timeout=300)
        assert op["status"] == "COMPLETED", op
        assert op["failNodes"] == [node]
        # what may be left, and where: the cut-off machine, which is free again
        assert cut.address in op["progressMessage"] and cut.name in op["progressMessage"]
        assert c.get("/v1/clusters/zkf").status_code == 404
        machines = {m["name"]: m for m in c.get("/v1/machines").json()["machines"]}
        assert all(m.get("node") is None for m in machines.values()), machines
    cut.restore()
