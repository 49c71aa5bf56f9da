"""/v1/machines through the real app (real store, real catalog; the engine not started):
administrators register, list, show and remove machines; bad input is refused with
nothing stored; the private key is in no answer; a machine with a node is not removed;
on the machines provider a create or resize-out needing more machines than are free is
refused up front. The last test runs a real server and reads its log for the key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from ndovu.config import load_settings
from ndovu.providers.machines import Machine
from ndovu.server import Process, build
from ndovu.statuses import ClusterStatus, TaskStatus
from ndovu.store.machines import StoreInventory
from ndovu.store.models import Cluster, Operation
from tests.databases import database_url
from tests.helpers import Server, authenticate_test_client, login

pytestmark = pytest.mark.integration

KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()
# the part of the key that must never come back
KEY_BODY = KEY.splitlines()[1]
ENCRYPTED_KEY = asyncssh.generate_private_key("ssh-rsa", key_size=2048).export_private_key(
    "pkcs8-pem", passphrase="secret").decode()
HOST_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def _process(tmp_path: Path, **settings: Any) -> Process:
    state = tmp_path / "state"
    return build(load_settings(state_dir=state, engine=False,
                               database_url=database_url(state),
                               local_subnet="127.63.0.0/16", **settings))


@pytest.fixture
def process(tmp_path: Path) -> Process:
    return _process(tmp_path)


@pytest.fixture
def client(process: Process, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(process.app) as c:
        yield authenticate_test_client(c, tmp_path / "state")


def body(address: str = "10.0.0.5", **changes: Any) -> dict[str, Any]:
    return {"address": address, "privateKey": KEY} | changes


def _everything(client: TestClient) -> Any:
    return client.get("/v1/machines").json()


def test_a_machine_is_added_listed_shown_and_removed(client: TestClient,
                                                     process: Process) -> None:
    r = client.post("/v1/machines", json=body(port=2222, user="ubuntu",
                                              labels={"rack": "r1", "disk": "ssd"}))
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v1/machines/10-0-0-5"
    added = r.json()
    assert added == {"name": "10-0-0-5", "address": "10.0.0.5", "port": 2222,
                     "user": "ubuntu", "labels": {"rack": "r1", "disk": "ssd"},
                     "hostKeyFingerprint": None, "status": "free", "cluster": None,
                     "node": None, "createdAt": added["createdAt"],
                     "links": {"self": "/v1/machines/10-0-0-5", "cluster": None}}
    r = client.post("/v1/machines", json=body("fd00::5", name="six"))
    assert r.status_code == 201, r.text
    assert (r.json()["address"], r.json()["user"], r.json()["port"]) == ("fd00::5", "root", 22)
    r = client.post("/v1/machines", json=body("Node7.Example.COM."))
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["address"]) == ("node7-example-com",
                                                       "node7.example.com")

    listed = client.get("/v1/machines").json()
    assert [m["name"] for m in listed["machines"]] == ["10-0-0-5", "node7-example-com", "six"]
    assert listed["free"] == 3

    # the provider pins the host key at first contact; the API shows its fingerprint
    StoreInventory(process.store, Machine).record_host_key("six", HOST_KEY)
    shown = client.get("/v1/machines/six").json()
    expected = asyncssh.import_public_key(HOST_KEY).get_fingerprint("sha256")
    assert shown["hostKeyFingerprint"] == expected

    assert client.delete("/v1/machines/six").status_code == 204
    missing = client.get("/v1/machines/six")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.delete("/v1/machines/six").status_code == 404
    assert [m["name"] for m in client.get("/v1/machines").json()["machines"]] == [
        "10-0-0-5", "node7-example-com"]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"privateKey": "SECRETMARKER not a key"}, "privateKey", "not an OpenSSH or PEM"),
    ({"privateKey": ENCRYPTED_KEY}, "privateKey", "encrypted"),
    ({"privateKey": HOST_KEY}, "privateKey", "not an OpenSSH or PEM"),
    ({"address": "10.0.0.300"}, "address", "neither an IPv4 or IPv6 address"),
    ({"address": "http://10.0.0.5"}, "address", "neither"),
    ({"address": "-bad.example"}, "address", "neither"),
    ({"address": ""}, "address", "neither"),
    ({"port": 0}, "port", "1 to 65535"),
    ({"port": 70000}, "port", "1 to 65535"),
    ({"user": "-root"}, "user", "not a valid user name"),
    ({"user": "a" * 33}, "user", "not a valid user name"),
    ({"name": "bad/name"}, "name", "machine name 'bad/name' is not valid"),
    ({"labels": {"bad key": "x"}}, "labels.bad key", "not a valid label name"),
    ({"labels": {"rack": "r 1"}}, "labels.rack", "not a valid label value"),
    ({"privateKey": None}, "privateKey", "string"),
    ({"colour": "blue"}, "colour", "unknown field"),
])
def test_bad_input_is_a_clear_422_and_nothing_is_stored(
        client: TestClient, changes: dict[str, Any], field: str, words: str) -> None:
    before = _everything(client)
    r = client.post("/v1/machines", json=body() | changes)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"], error
    assert "SECRETMARKER" not in r.text and KEY_BODY not in r.text
    assert "PRIVATE KEY" not in r.text
    assert _everything(client) == before


def test_a_missing_key_is_named(client: TestClient) -> None:
    r = client.post("/v1/machines", json={"address": "10.0.0.5"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "the field 'privateKey' is required"


def test_a_duplicate_name_or_address_is_a_409_and_nothing_changes(client: TestClient) -> None:
    assert client.post("/v1/machines", json=body(name="m1")).status_code == 201
    before = _everything(client)
    for duplicate in (body("10.0.0.6", name="m1"), body("10.0.0.5", name="m2"),
                      body("10.0.0.5")):
        r = client.post("/v1/machines", json=duplicate)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "conflict"
        assert "'m1'" in r.json()["error"]["message"]
    assert _everything(client) == before


def test_only_administrators_may_see_or_change_machines(client: TestClient,
                                                        tmp_path: Path) -> None:
    assert client.post("/v1/machines", json=body(name="m1")).status_code == 201
    r = client.post("/v1/users", json={"name": "alice", "password": "alice-password-1"})
    assert r.status_code == 201, r.text
    token = login("", "alice", "alice-password-1", client)
    as_alice = {"Authorization": f"Bearer {token}"}
    for method, path, payload in (("GET", "/v1/machines", None),
                                  ("GET", "/v1/machines/m1", None),
                                  ("POST", "/v1/machines", body("10.0.0.9")),
                                  ("DELETE", "/v1/machines/m1", None)):
        r = client.request(method, path, json=payload, headers=as_alice)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
        anonymous = client.request(method, path, json=payload,
                                   headers={"Authorization": ""})
        assert anonymous.status_code == 401
    assert [m["name"] for m in _everything(client)["machines"]] == ["m1"]


def test_the_private_key_is_in_no_answer(client: TestClient, process: Process) -> None:
    answers = [client.post("/v1/machines", json=body(name="m1")),
               client.post("/v1/machines", json=body(name="m1")),
               client.get("/v1/machines"), client.get("/v1/machines/m1"),
               client.get("/openapi.json")]
    StoreInventory(process.store, Machine).claim("c1", "c1-g-0", "g", 0)
    answers += [client.get("/v1/machines"), client.get("/v1/machines/m1"),
                client.delete("/v1/machines/m1")]
    for answer in answers:
        assert KEY_BODY not in answer.text and "PRIVATE KEY" not in answer.text


def test_a_machine_with_a_node_is_not_removed(client: TestClient, process: Process) -> None:
    assert client.post("/v1/machines", json=body(name="m1")).status_code == 201
    inventory = StoreInventory(process.store, Machine)
    inventory.claim("zk", "zk-zookeeper-0", "zookeeper", 0)
    shown = client.get("/v1/machines/m1").json()
    assert (shown["status"], shown["cluster"], shown["node"]) == (
        "assigned", "zk", "zk-zookeeper-0")
    assert shown["links"]["cluster"] == "/v1/clusters/zk"
    assert client.get("/v1/machines").json()["free"] == 0
    r = client.delete("/v1/machines/m1")
    assert r.status_code == 409, r.text
    assert "cluster 'zk'" in r.json()["error"]["message"]
    assert "zk-zookeeper-0" in r.json()["error"]["message"]
    inventory.release("zk", "zk-zookeeper-0")
    assert client.delete("/v1/machines/m1").status_code == 204


def test_on_the_machines_provider_a_cluster_needs_a_free_machine_per_node(
        tmp_path: Path) -> None:
    pytest.importorskip("ndovu.transports.ssh")
    process = _process(tmp_path, provider="machines")
    with TestClient(process.app) as client:
        authenticate_test_client(client, tmp_path / "state")
        for i in (1, 2):
            assert client.post("/v1/machines", json=body(f"10.0.0.{i}")).status_code == 201
        r = client.post("/v1/clusters", json={"name": "kv", "type": "etcd"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert "needs 3 more machines, but 2 of the 2 machines registered are free" in \
            error["message"]
        assert "ndovu machine add" in error["hint"]
        assert client.get("/v1/clusters").json()["clusters"] == []

        assert client.post("/v1/machines", json=body("10.0.0.3")).status_code == 201
        r = client.post("/v1/clusters", json={"name": "kv", "type": "etcd"})
        assert r.status_code == 202, r.text
        # its three nodes hold the three machines, though none is placed yet
        r = client.post("/v1/clusters", json={"name": "kv2", "type": "etcd",
                                              "nodeGroups": [{"name": "etcd",
                                                              "instanceNum": 1}]})
        assert r.status_code == 422
        assert "promised to nodes not yet placed" in r.json()["error"]["message"]

        # a RUNNING cluster (as the engine would leave it) cannot grow past the machines
        with process.store.session() as s:
            s.execute(update(Cluster).values(status=ClusterStatus.RUNNING))
            s.execute(update(Operation).values(status=TaskStatus.COMPLETED))
            assert s.scalars(select(Cluster.name)).all() == ["kv"]
        r = client.put("/v1/clusters/kv/nodegroups/etcd/instancenum",
                       json={"instanceNum": 4})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "instanceNum"
        assert "needs 1 more machine, but 0 of the 3 machines registered are free" in \
            r.json()["error"]["message"]


def test_on_the_machines_provider_a_static_network_is_refused_up_front(
        tmp_path: Path) -> None:
    # a machine keeps its own address: ndovu cannot honour a network's static blocks
    process = _process(tmp_path, provider="machines")
    with TestClient(process.app) as client:
        authenticate_test_client(client, tmp_path / "state")
        for i in (1, 2, 3):
            assert client.post("/v1/machines", json=body(f"10.0.0.{i}")).status_code == 201
        r = client.post("/v1/networks", json={
            "name": "static1", "portGroup": "pg", "isDhcp": False,
            "ipBlocks": [{"beginIp": "10.1.0.10", "endIp": "10.1.0.20"}]})
        assert r.status_code == 201, r.text
        r = client.post("/v1/clusters", json={"name": "kv", "type": "etcd",
                                              "network": "static1"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["field"] == "network"
        assert "keeps each machine's own address" in error["message"]
        assert client.get("/v1/clusters").json()["clusters"] == []
        r = client.post("/v1/clusters", json={"name": "kv", "type": "etcd"})
        assert r.status_code == 202, r.text  # the default network: the machines' own


def test_a_real_server_keeps_the_key_out_of_its_log(tmp_path: Path) -> None:
    server = Server(tmp_path / "state", subnet="127.64.0.0/16").start()
    try:
        with server.client() as http:
            for payload in (body(name="m1"), body(name="m1"),
                            body("10.0.0.9", privateKey=ENCRYPTED_KEY),
                            body("10.0.0.9", privateKey="SECRETMARKER")):
                answer = http.post("/v1/machines", json=payload)
                assert KEY_BODY not in answer.text and "SECRETMARKER" not in answer.text
            assert http.get("/v1/machines/m1").json()["status"] == "free"
            assert http.delete("/v1/machines/m1").status_code == 204
    finally:
        server.stop()
    log = server.log.read_text()
    assert KEY_BODY not in log and "SECRETMARKER" not in log
    assert "PRIVATE KEY" not in log and ENCRYPTED_KEY.splitlines()[1] not in log
