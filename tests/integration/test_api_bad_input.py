"""Bad input answers a 4xx JSON error naming the field, and changes nothing.

The app is the real one (real SQLite store, real catalog, real plan validation); its
engine is not started, so a request that wrongly got through would show up as a row."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from ndovu.config import load_settings
from ndovu.server import build
from tests.databases import database_url
from tests.helpers import authenticate_test_client, login

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite, PostgreSQL
# and MariaDB
pytestmark = [pytest.mark.integration, pytest.mark.database]


def _app(state_dir: Path):  # the real app, engine off
    return build(load_settings(state_dir=state_dir, engine=False,
                               database_url=database_url(state_dir),
                               local_subnet="127.62.0.0/16")).app


@pytest.fixture
def client(tmp_path: Path):
    with TestClient(_app(tmp_path / "state")) as c:
        yield authenticate_test_client(c, tmp_path / "state")


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory):
    """One app for the tests whose every request must be refused: each checks that
    nothing changed, so sharing it only makes the check stricter."""
    state_dir = tmp_path_factory.mktemp("refusing") / "state"
    with TestClient(_app(state_dir)) as c:
        yield authenticate_test_client(c, state_dir), state_dir


def _nothing_changed(client: TestClient, state_dir: Path) -> None:
    assert client.get("/v1/clusters").json() == {"clusters": []}
    assert client.get("/v1/operations").json() == {"operations": []}
    nodes = state_dir / "nodes"
    assert not nodes.exists() or not [p for p in nodes.iterdir() if p.is_dir()]


@pytest.mark.parametrize(("body", "status", "field", "words"), [
    ({"name": "ok_name", "type": "cassandra_nope"}, 422, "type", "zookeeper"),
    ({"name": "cluster-Name8", "type": "zookeeper"}, 422, "name", "underscores"),
    ({"name": "a b", "type": "zookeeper"}, 422, "name", "underscores"),
    ({"name": "", "type": "zookeeper"}, 422, "name", ""),
    ({"name": "x" * 79, "type": "zookeeper"}, 422, "name", ""),
    ({"name": "zk", "type": "zookeeper",
      "nodeGroups": [{"name": "zookeeper", "instanceNum": 4}]}, 422,
     "nodeGroups[0].instanceNum", "3"),
    ({"name": "zk", "type": "zookeeper",
      "nodeGroups": [{"name": "zookeeper", "instanceNum": "three"}]}, 422,
     "nodeGroups[0].instanceNum", ""),
    ({"name": "zk", "type": "zookeeper",
      "nodeGroups": [{"name": "workers", "instanceNum": 3}]}, 422, "nodeGroups[0].name",
     "zookeeper"),
    ({"name": "zk", "type": "zookeeper",
      "nodeGroups": [{"name": "zookeeper", "instanceType": "HUGE"}]}, 422,
     "nodeGroups[0].instanceType", "SMALL"),
    ({"name": "zk"}, 422, "type", "required"),
    ({"name": "zk", "type": "zookeeper", "colour": "blue"}, 422, "colour", "unknown"),
    ({"name": 7, "type": "zookeeper"}, 422, "name", ""),
    # configuration no role of the cluster understands, named with what is settable
    ({"name": "zk", "type": "zookeeper", "configuration": {"zookeeper": {"dataDir": "/"}}},
     422, "configuration.zookeeper.dataDir", "tickTime"),
    ({"name": "zk", "type": "zookeeper", "configuration": {"tickTime": 3000}}, 422,
     "configuration.tickTime", "'zookeeper' section"),
    ({"name": "zk", "type": "zookeeper", "configuration": {"spark": {"worker.cores": 2}}},
     422, "configuration.spark", "zookeeper"),
    ({"name": "zk", "type": "zookeeper", "configuration": {"zookeeper": {"tickTime": "x"}}},
     422, "configuration.zookeeper.tickTime", "integer"),
    ({"name": "zk", "type": "zookeeper", "configuration": "tickTime=3000"}, 422,
     "configuration", ""),
    ({"name": "zk", "type": "zookeeper", "nodeGroups": [
        {"name": "zookeeper", "configuration": {"zookeeper": {"initLimit": 0}}}]}, 422,
     "nodeGroups[0].configuration.zookeeper.initLimit", "at least 1"),
    # a type whose roles ndovu does not implement: refused with the reason, never started
    ({"name": "m", "type": "mesos"}, 422, "nodeGroups[1].roles", "cannot run on the local"),
    # the server's hard limits, whatever the spec allows (spark's workers are unbounded),
    # refused before a plan exists (never 20,000 node rows, nor 20,000 nodes in memory)
    ({"name": "sp", "type": "spark", "nodeGroups": [{"name": "worker", "instanceNum": 20000}]},
     422, "nodeGroups[0].instanceNum", "at most 1000 nodes per cluster"),
    ({"name": "sp", "type": "spark", "nodeGroups": [{"name": "worker", "instanceNum": 1000}]},
     422, "nodeGroups", "cluster 'sp' would have 1001 nodes"),
    ({"name": "sp", "type": "spark", "nodeGroups": [{"name": "worker", "cpuNum": 1000000}]},
     422, "nodeGroups[0].cpuNum", "at most 128"),
    ({"name": "sp", "type": "spark",
      "nodeGroups": [{"name": "worker", "memCapacityMB": 99999999999}]},
     422, "nodeGroups[0].memCapacityMB", "max_memory_mb_per_node"),
    ({"name": "sp", "type": "spark",
      "nodeGroups": [{"name": "worker", "storage": {"sizeGB": 10**20}}]},
     422, "nodeGroups[0].storage.sizeGB", "at most 65536"),
])
def test_bad_create_is_refused_and_changes_nothing(refusing: tuple[TestClient, Path],
                                                   body: dict, status: int, field: str,
                                                   words: str) -> None:
    client, state_dir = refusing
    r = client.post("/v1/clusters", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field, error
    assert error["code"] and error["message"]
    assert words in error["message"] + error.get("hint", ""), error
    _nothing_changed(client, state_dir)


def test_a_method_a_path_does_not_take_is_a_405_naming_the_ones_it_does(
        refusing: tuple[TestClient, Path]) -> None:
    client, state_dir = refusing
    r = client.patch("/v1/clusters", json={"name": "zk", "type": "zookeeper"})
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "POST"}
    assert r.json()["error"] == {"code": "method_not_allowed",
                                 "message": "PATCH is not allowed on /v1/clusters",
                                 "hint": f"use {r.headers['allow']}"}
    # logout only by POST: a link or an image on any page cannot end a session
    r = client.get("/serengeti/j_spring_security_logout")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")
    _nothing_changed(client, state_dir)


def test_malformed_json_is_a_400(refusing: tuple[TestClient, Path]) -> None:
    client, state_dir = refusing
    r = client.post("/v1/clusters", content=b'{"name": "zk", "type": ',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    _nothing_changed(client, state_dir)


def test_duplicate_name_is_a_409_and_keeps_the_first(client: TestClient) -> None:
    first = client.post("/v1/clusters", json={"name": "zk_dup", "type": "zookeeper"})
    assert first.status_code == 202
    before = client.get("/v1/clusters/zk_dup").json()
    r = client.post("/v1/clusters", json={"name": "zk_dup", "type": "zookeeper"})
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "name"
    assert "zk_dup" in r.json()["error"]["message"]
    assert client.get("/v1/clusters/zk_dup").json() == before
    assert len(client.get("/v1/operations").json()["operations"]) == 1


def test_unknown_cluster_and_operation_are_404(client: TestClient, tmp_path: Path) -> None:
    r = client.delete("/v1/clusters/nope")
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "not_found", "message": "no cluster named 'nope'",
                                 "field": "name",
                                 "hint": "GET /v1/clusters lists the clusters that exist"}
    assert client.get("/v1/clusters/nope").status_code == 404
    assert client.get("/v1/operations/999").status_code == 404
    # larger than any id the store can hold: still just not there (never a 500)
    for path in ("/v1/operations/99999999999999999999",
                 "/v1/operations/99999999999999999999/events"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["field"] == "id", r.text
    _nothing_changed(client, tmp_path / "state")


def test_second_delete_is_a_409_naming_the_running_operation(client: TestClient) -> None:
    assert client.post("/v1/clusters", json={"name": "zk_del",
                                             "type": "zookeeper"}).status_code == 202
    first = client.delete("/v1/clusters/zk_del")
    assert first.status_code == 202
    r = client.delete("/v1/clusters/zk_del")
    assert r.status_code == 409
    assert str(first.json()["id"]) in r.json()["error"]["message"]


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/clusters" in spec["paths"] and "/v1/operations/{op_id}" in spec["paths"]
    create = spec["paths"]["/v1/clusters"]["post"]["responses"]
    assert create["202"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OperationRead")
    # errors are documented as they are sent, not as FastAPI's default validation shape
    assert create["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse")
    show = spec["paths"]["/v1/clusters/{name}"]["get"]["responses"]
    assert show["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ClusterRead")
    # every /v1 call but the health check declares the 401 it answers without a token;
    # the administrators' calls their 403, the logins their 429
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if path.startswith("/v1/") and path != "/v1/health":
                assert "401" in operation["responses"], (method, path)
    for path in ("/v1/users", "/v1/machines"):
        assert "403" in spec["paths"][path]["get"]["responses"], path
    assert "429" in spec["paths"]["/v1/auth/tokens"]["post"]["responses"]
    assert "429" in spec["paths"]["/serengeti/j_spring_security_check"]["post"]["responses"]


def test_the_interactive_docs_come_from_the_server_itself(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # no CDN
    for source in sources:
        assert client.get(source).status_code == 200, source


@pytest.mark.parametrize("body", [b"[]", b"null", b'"zookeeper"'])
def test_a_body_that_is_not_an_object_is_refused(refusing: tuple[TestClient, Path],
                                                 body: bytes) -> None:
    client, state_dir = refusing
    r = client.post("/v1/clusters", content=body,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "the request body must be a JSON object"
    _nothing_changed(client, state_dir)


def test_an_override_without_a_group_name_says_so(refusing: tuple[TestClient, Path]) -> None:
    client, state_dir = refusing
    r = client.post("/v1/clusters", json={"name": "zk", "type": "zookeeper",
                                          "nodeGroups": [{"instanceNum": 3}]})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "nodeGroups[0].name"
    assert "needs the 'name'" in r.json()["error"]["message"]
    _nothing_changed(client, state_dir)


def test_an_oversized_body_is_a_413_before_anything_reads_it(
        refusing: tuple[TestClient, Path]) -> None:
    client, state_dir = refusing
    big = b'{"name": "zk", "type": "zookeeper", "pad": "' + b"x" * (1 << 20) + b'"}'
    r = client.post("/v1/clusters", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert str(1 << 20) in r.json()["error"]["message"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(20):
            yield b"x" * 65536

    r = client.post("/v1/clusters", content=chunks(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    # a body within the limit still goes through (and is refused for what it says)
    r = client.post("/v1/clusters", json={"name": "zk", "type": "zookeeper", "x": "y" * 1000})
    assert r.status_code == 422 and r.json()["error"]["field"] == "x"
    _nothing_changed(client, state_dir)


# -- /serengeti/api: BDE's REST surface -------------------------------------------------

NET_BLOCK = {"beginIp": "127.73.0.1", "endIp": "127.73.0.9"}


@contextlib.contextmanager
def _bde_app(state_dir: Path):
    """The real app (engine off) logged in with BDE's form login, with a network, a
    resource pool, a datastore and a cluster ``e1`` placed on them: (client, store)."""
    process = build(load_settings(state_dir=state_dir, engine=False,
                                  database_url=database_url(state_dir),
                                  local_subnet="127.62.0.0/16"))
    password = (state_dir / "initial-admin-password").read_text().strip()
    with TestClient(process.app) as c:
        r = c.post("/serengeti/j_spring_security_check",
                   data={"j_username": "admin", "j_password": password})
        assert r.status_code == 200 and "JSESSIONID" in c.cookies
        for path, body in (
                ("networks", {"name": "net1", "portGroup": "pg1", "ipBlocks": [NET_BLOCK]}),
                ("resourcepools", {"name": "rp1", "vcClusterName": "vc1", "cpuLimit": 64}),
                ("datastores", {"name": "ds1", "spec": ["local-ssd"], "type": "LOCAL"}),
                ("clusters", {"name": "e1", "type": "etcd", "networkNames": ["net1"],
                              "rpNames": ["rp1"], "dsNames": ["ds1"]})):
            r = c.post(f"/serengeti/api/{path}", json=body)
            assert r.status_code in (200, 202), r.text
        yield c, process.store


@pytest.fixture
def bde(tmp_path: Path):
    with _bde_app(tmp_path / "state") as app:
        yield app


@pytest.fixture(scope="module")
def bde_refusing(tmp_path_factory: pytest.TempPathFactory):
    """One such app for the cases that must all be refused (each compares the whole store
    before and after, so sharing it only makes the check stricter)."""
    with _bde_app(tmp_path_factory.mktemp("bde") / "state") as app:
        yield app


def _store_state(store) -> dict:
    """Everything a request could change, as plain values."""
    from sqlalchemy import select

    from ndovu.store.models import Cluster, Datastore, Network, Node, Operation, ResourcePool

    with store.session() as s:
        return {
            "clusters": [(c.name, c.status, c.desired, c.plan, c.network_name,
                          c.resource_pool_name, c.datastore_names)
                         for c in s.scalars(select(Cluster).order_by(Cluster.id))],
            "nodes": [(n.name, n.status) for n in s.scalars(select(Node).order_by(Node.id))],
            "operations": [(o.id, o.type, o.status)
                           for o in s.scalars(select(Operation).order_by(Operation.id))],
            "networks": [(n.name, n.port_group, n.is_dhcp, n.ip_blocks, n.dns1, n.dns2)
                         for n in s.scalars(select(Network).order_by(Network.id))],
            "pools": [(p.name, p.cpu_limit, p.mem_limit_mb)
                      for p in s.scalars(select(ResourcePool).order_by(ResourcePool.id))],
            "datastores": [(d.name, d.spec, d.type)
                           for d in s.scalars(select(Datastore).order_by(Datastore.id))],
        }


CREATE = "/serengeti/api/clusters"
E1 = "/serengeti/api/cluster/e1"
RESIZE = "/serengeti/api/cluster/e1/nodegroup/etcd/instancenum"
SCALE = "/serengeti/api/cluster/e1/nodegroup/etcd/scale"


def _create(**fields) -> dict:
    return {"name": "x1", "type": "etcd", **fields}


# (method, path, JSON body (None: no body), status, field, words in message + hint)
SERENGETI_BAD_INPUT = [
    # ClusterCreate: missing and mistyped fields, unknown names, out-of-range counts
    ("POST", CREATE, {"name": "x1"}, 422, "type", "required"),
    ("POST", CREATE, {"type": "etcd"}, 422, "name", "required"),
    ("POST", CREATE, {"name": 7, "type": "etcd"}, 422, "name", ""),
    ("POST", CREATE, [], 422, None, "JSON object"),
    ("POST", CREATE, _create(type="nope"), 422, "type", "etcd"),
    ("POST", CREATE, _create(name="x-1"), 422, "name", "underscores"),
    ("POST", CREATE, _create(name="e1"), 409, "name", "already exists"),
    ("POST", CREATE, _create(nodegroups=[]), 422, "nodegroups", "unknown"),
    ("POST", CREATE, _create(nodeGroups="etcd"), 422, "nodeGroups", ""),
    ("POST", CREATE, _create(nodeGroups=[{"name": "etcd", "instanceNum": 9}]), 422,
     "nodeGroups[0].instanceNum", "at most 7"),
    ("POST", CREATE, _create(nodeGroups=[{"name": "etcd", "instanceNum": 0}]), 422,
     "nodeGroups[0].instanceNum", "at least 1"),
    ("POST", CREATE, _create(nodeGroups=[{"name": "workers"}]), 422, "nodeGroups[0].name",
     "etcd"),
    ("POST", CREATE, _create(specFile=True, nodeGroups=[{"name": "g", "instanceNum": 3}]),
     422, "nodeGroups[0].roles", "roles"),
    ("POST", CREATE, _create(configuration={"etcd": {"nope": 1}}), 422,
     "configuration.etcd.nope", ""),
    ("POST", CREATE, _create(networkConfig={"MGT_NETWORK": ["nope"]}), 422,
     "networkConfig.MGT_NETWORK[0]", "'nope'"),
    ("POST", CREATE, _create(networkConfig={"MGT_NETWORK": 5}), 422,
     "networkConfig.MGT_NETWORK", ""),
    ("POST", CREATE, _create(networkConfig={"STORAGE": "net1"}), 422,
     "networkConfig.STORAGE", "MGT_NETWORK"),
    ("POST", CREATE, _create(networkConfig={"MGT_NETWORK": "net1",
                                            "HDFS_NETWORK": "defaultNetwork"}), 422,
     "networkConfig.HDFS_NETWORK", "one network"),
    ("POST", CREATE, _create(networkNames=["net1", "defaultNetwork"]), 422, "networkNames",
     "one network"),
    ("POST", CREATE, _create(rpNames=["nope"]), 422, "rpNames[0]", "'nope'"),
    ("POST", CREATE, _create(rpNames=["rp1", "rp1"]), 422, "rpNames", "one resource pool"),
    ("POST", CREATE, _create(rpNames="rp1"), 422, "rpNames", ""),
    ("POST", CREATE, _create(dsNames=["ds1", "nope"]), 422, "dsNames[1]", "'nope'"),
    ("POST", CREATE, _create(topologyPolicy="HVE"), 422, "topologyPolicy", "NONE"),
    ("POST", CREATE, _create(appManager="ClouderaManager"), 422, "appManager", ""),
    ("POST", CREATE, _create(distroVendor="Apache"), 422, "distroVendor", "etcd"),
    ("POST", CREATE, {"name": "x1", "distro": "nope"}, 422, "distro", "etcd"),
    ("POST", CREATE, _create(type="mesos"), 422, "nodeGroups[1].roles", "cannot run"),
    ("POST", CREATE, _create(specFile="maybe"), 422, "specFile", ""),
    # a whole spec in the request has its own ranges, not the server's limits
    ("POST", CREATE, _create(specFile=True, nodeGroups=[
        {"name": "g", "roles": ["etcd"], "instanceNum": 20000}]), 422, "nodeGroups",
     "at most 1000 nodes per cluster"),
    ("POST", CREATE, _create(specFile=True, nodeGroups=[
        {"name": "g", "roles": ["etcd"], "instanceNum": 3, "cpuNum": 1000000}]), 422,
     "nodeGroups", "at most 128"),
    # clusters that do not exist, bad states
    ("GET", "/serengeti/api/cluster/nope", None, 404, "name", "nope"),
    ("GET", "/serengeti/api/cluster/nope/spec", None, 404, "name", "nope"),
    ("DELETE", "/serengeti/api/cluster/nope", None, 404, "name", "nope"),
    ("PUT", "/serengeti/api/cluster/nope/action?state=stop", None, 404, "name", "nope"),
    ("PUT", f"{E1}/action?state=bogus", None, 422, "state", "start, resume, stop"),
    ("PUT", f"{E1}/action", None, 422, "state", "start, resume, stop"),
    ("PUT", f"{E1}?state=bogus", None, 422, "state", "start, resume, stop"),
    ("PUT", f"{E1}", None, 422, "state", "start, resume, stop"),
    ("PUT", f"{E1}", {"state": "bogus"}, 422, "state", "start, resume, stop"),
    ("PUT", f"{E1}?state=start", {"state": "stop"}, 422, "state", "give one"),
    ("PUT", f"{E1}", {"state": 1}, 422, "state", ""),
    ("PUT", f"{E1}", {"action": "stop"}, 422, "state", "required"),
    ("PUT", f"{E1}/action?state=stop&force=maybe", None, 422, "force", ""),
    # resize: the body is a bare integer > 0 within the spec's range
    ("PUT", RESIZE, "five", 422, "instanceNum", "bare JSON integer"),
    ("PUT", RESIZE, 5.5, 422, "instanceNum", "bare JSON integer"),
    ("PUT", RESIZE, [5], 422, "instanceNum", "bare JSON integer"),
    ("PUT", RESIZE, {}, 422, "instanceNum", "bare JSON integer"),
    ("PUT", RESIZE, True, 422, "instanceNum", "bare JSON integer"),
    ("PUT", RESIZE, None, 422, "instanceNum", "bare JSON integer"),
    ("PUT", RESIZE, 0, 422, "instanceNum", "greater than 0"),
    ("PUT", RESIZE, -2, 422, "instanceNum", "greater than 0"),
    ("PUT", RESIZE, 8, 422, "instanceNum", "[1,7]"),
    ("PUT", "/serengeti/api/cluster/e1/nodegroup/nope/instancenum", 4, 404, "group", "etcd"),
    ("PUT", "/serengeti/api/cluster/nope/nodegroup/etcd/instancenum", 4, 404, "name", "nope"),
    # scale: ResourceScale; the local provider cannot scale nodes
    ("PUT", SCALE, {}, 422, "clusterName", "required"),
    ("PUT", SCALE, {"clusterName": "e1", "nodeGroupName": "etcd", "cpuNumber": -1}, 422,
     "cpuNumber", ""),
    ("PUT", SCALE, {"clusterName": "e1", "nodeGroupName": "etcd", "cpuNumber": "2"}, 422,
     "cpuNumber", ""),
    ("PUT", SCALE, {"clusterName": "e2", "nodeGroupName": "etcd", "cpuNumber": 2}, 422,
     "clusterName", "path"),
    ("PUT", SCALE, {"clusterName": "e1", "nodeGroupName": "etcd", "cpuNumber": 2}, 409,
     None, "cannot change a node's CPU"),
    # tasks
    ("GET", "/serengeti/api/task/999", None, 404, "id", "999"),
    ("GET", "/serengeti/api/task/99999999999999999999", None, 404, "id", "999"),
    ("GET", "/serengeti/api/task/abc", None, 422, "task_id", ""),
    # networks
    ("POST", "/serengeti/api/networks", {"portGroup": "p"}, 422, "name", "required"),
    ("POST", "/serengeti/api/networks", {"name": "n2"}, 422, "portGroup", "required"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "ipBlocks": [
        {"beginIp": "10.0.0.1", "endIp": "10.0.0.9"}]}, 422, "ipBlocks[0]", "127.0.0.0/8"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "ipBlocks": [
        {"beginIp": "127.73.1.x", "endIp": "127.73.1.9"}]}, 422, "ipBlocks[0].beginIp", ""),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "ipBlocks": [
        {"beginIp": "127.73.1.9", "endIp": "127.73.1.1"}]}, 422, "ipBlocks[0]", "before"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "ipBlocks": [
        {"beginIp": "127.73.0.5", "endIp": "127.73.0.20"}]}, 409, "ipBlocks[0]", "net1"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "ipBlocks": [
        {"beginIp": "127.73.1.1"}]}, 422, "ipBlocks[0].endIp", "required"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p",
                                         "ipBlocks": "127.73.1.1"}, 422, "ipBlocks", ""),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p"}, 422, "ipBlocks",
     "static"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "isDhcp": True,
                                         "ipBlocks": [NET_BLOCK]}, 422, "ipBlocks", "DHCP"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "isDhcp": "maybe"},
     422, "isDhcp", ""),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "isDhcp": True,
                                         "dns1": "dns.example"}, 422, "dns1", "IPv4"),
    ("POST", "/serengeti/api/networks", {"name": "n2", "portGroup": "p", "isDhcp": True,
                                         "netmask": "255.0.255.0"}, 422, "netmask", ""),
    ("POST", "/serengeti/api/networks", {"name": "n/2", "portGroup": "p", "isDhcp": True},
     422, "name", "letters"),
    ("POST", "/serengeti/api/networks", {"name": "net1", "portGroup": "p", "isDhcp": True},
     409, "name", "already exists"),
    ("POST", "/serengeti/api/networks", {"name": "defaultNetwork", "portGroup": "p",
                                         "isDhcp": True}, 409, "name", "already exists"),
    ("GET", "/serengeti/api/network/nope", None, 404, "name", "nope"),
    ("PUT", "/serengeti/api/network/net1", {}, 422, "ipBlocks", "nothing else"),
    ("PUT", "/serengeti/api/network/net1", {"portGroup": "other"}, 422, "portGroup",
     "cannot be changed"),
    ("PUT", "/serengeti/api/network/net1", {"ipBlocks": [
        {"beginIp": "10.1.1.1", "endIp": "10.1.1.2"}]}, 422, "ipBlocks[0]", "127.0.0.0/8"),
    ("PUT", "/serengeti/api/network/net1", {"ipBlocks": [
        {"beginIp": "127.73.0.5", "endIp": "127.73.0.6"}]}, 422, "ipBlocks[0]", "overlaps"),
    ("PUT", "/serengeti/api/network/nope", {"dns1": "127.0.0.53"}, 404, "name", "nope"),
    ("PUT", "/serengeti/api/network/defaultNetwork", {"dns1": "127.0.0.53"}, 409, "name",
     "built in"),
    ("DELETE", "/serengeti/api/network/nope", None, 404, "name", "nope"),
    ("DELETE", "/serengeti/api/network/net1", None, 409, "name", "e1"),
    ("DELETE", "/serengeti/api/network/defaultNetwork", None, 409, "name", "built in"),
    # resource pools
    ("POST", "/serengeti/api/resourcepools", {"name": "rp2"}, 422, "vcClusterName",
     "required"),
    ("POST", "/serengeti/api/resourcepools", {"name": "rp2", "vcClusterName": "vc",
                                              "cpuLimit": 0}, 422, "cpuLimit", ""),
    ("POST", "/serengeti/api/resourcepools", {"name": "rp2", "vcClusterName": "vc",
                                              "memLimitMB": "4096"}, 422, "memLimitMB", ""),
    ("POST", "/serengeti/api/resourcepools", {"name": "rp2", "vcClusterName": "vc",
                                              "cpuLimit": 10**20}, 422, "cpuLimit",
     "2147483647"),
    ("POST", "/serengeti/api/resourcepools", {"name": "rp1", "vcClusterName": "vc"}, 409,
     "name", "already exists"),
    ("GET", "/serengeti/api/resourcepool/nope", None, 404, "name", "nope"),
    ("DELETE", "/serengeti/api/resourcepool/nope", None, 404, "name", "nope"),
    ("DELETE", "/serengeti/api/resourcepool/rp1", None, 409, "name", "e1"),
    # datastores
    ("POST", "/serengeti/api/datastores", {"name": "ds2"}, 422, "spec", "required"),
    ("POST", "/serengeti/api/datastores", {"name": "ds2", "spec": []}, 422, "spec", ""),
    ("POST", "/serengeti/api/datastores", {"name": "ds2", "spec": ["x"], "type": "NFS"},
     422, "type", "SHARED"),
    ("POST", "/serengeti/api/datastores", {"name": "ds2", "spec": ["("], "regex": True},
     422, "spec[0]", "pattern"),
    ("POST", "/serengeti/api/datastores", {"name": "ds1", "spec": ["x"]}, 409, "name",
     "already exists"),
    ("GET", "/serengeti/api/datastore/nope", None, 404, "name", "nope"),
    ("DELETE", "/serengeti/api/datastore/nope", None, 404, "name", "nope"),
    ("DELETE", "/serengeti/api/datastore/ds1", None, 409, "name", "e1"),
    # distros
    ("GET", "/serengeti/api/distro/nope", None, 404, "name", "etcd"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field", "words"),
                         SERENGETI_BAD_INPUT,
                         ids=[f"{m} {p} {json.dumps(b)[:40]}"
                              for m, p, b, *_ in SERENGETI_BAD_INPUT])
def test_bad_serengeti_input_is_refused_and_changes_nothing(
        bde_refusing, method: str, path: str, body, status: int, field: str | None,
        words: str) -> None:
    client, store = bde_refusing
    before = _store_state(store)
    if body is None:
        r = client.request(method, path)
    else:
        r = client.request(method, path, content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]
    assert error.get("field") == field, error
    assert words in error["message"] + error.get("hint", ""), error
    assert _store_state(store) == before


def test_malformed_json_is_a_400_on_serengeti_too(bde) -> None:
    client, store = bde
    before = _store_state(store)
    for path, method in ((CREATE, "POST"), (RESIZE, "PUT"), ("/serengeti/api/networks",
                                                             "POST")):
        r = client.request(method, path, content=b'{"name": ',
                           headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    r = client.post(CREATE, content=b"{" + b" " * (1 << 20) + b"}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert _store_state(store) == before


def test_a_cluster_password_is_refused_and_never_repeated(bde, caplog) -> None:
    client, store = bde
    before = _store_state(store)
    secret = "correct-horse-battery-staple"
    r = client.post(CREATE, json=_create(password=secret))
    assert r.status_code == 422 and r.json()["error"]["field"] == "password"
    assert "does not set node passwords" in r.json()["error"]["message"]
    assert secret not in r.text
    assert all(secret not in rec.getMessage() for rec in caplog.records)
    # a wrongly typed password is refused without repeating it either
    r = client.post(CREATE, json=_create(password=["hunter2-hunter2"]))
    assert r.status_code == 422 and "hunter2" not in r.text
    assert _store_state(store) == before


def test_every_serengeti_call_needs_the_session(bde, tmp_path: Path) -> None:
    client, store = bde
    before = _store_state(store)
    spec = client.get("/openapi.json").json()
    anonymous = TestClient(client.app)
    checked = 0
    for path, methods in spec["paths"].items():
        if not path.startswith("/serengeti/api/") or "j_spring_security" in path:
            continue
        concrete = re.sub(r"\{[^}]+\}", "e1", path)
        for method in methods:
            for cookies in ({}, {"JSESSIONID": "not-a-session"}):
                anonymous.cookies.clear()
                anonymous.cookies.update(cookies)
                r = anonymous.request(method.upper(), concrete, json={})
                assert r.status_code == 401, (method, path, r.text)
                assert r.json()["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 24
    # a /v1 bearer token is not a session, nor the other way round
    password = (tmp_path / "state" / "initial-admin-password").read_text().strip()
    token = login("", "admin", password, client)
    anonymous.cookies.clear()
    r = anonymous.get("/serengeti/api/clusters", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    anonymous.cookies.set("JSESSIONID", client.cookies["JSESSIONID"])
    assert anonymous.get("/v1/clusters").status_code == 401
    assert _store_state(store) == before


def test_wrong_bde_credentials_get_v1s_generic_401(bde) -> None:
    client, _ = bde
    anonymous = TestClient(client.app)
    answers = []
    for path in ("/serengeti/j_spring_security_check",
                 "/serengeti/api/j_spring_security_check"):
        for user in ("admin", "mallory"):
            r = anonymous.post(path, data={"j_username": user, "j_password": "nope-nope-nope"})
            assert r.status_code == 401 and "set-cookie" not in r.headers
            answers.append(r.json())
    v1 = anonymous.post("/v1/auth/tokens", json={"username": "admin",
                                                 "password": "nope-nope-nope"})
    assert all(a == v1.json() for a in answers)


# -- networks and resource pools are honoured: capacity is checked up front ---------------


def _running(store, name: str) -> None:
    """What the engine records once a create has completed (the engine is off here)."""
    from sqlalchemy import select

    from ndovu.store.models import Cluster, Operation

    with store.session() as s:
        cluster = s.scalars(select(Cluster).where(Cluster.name == name)).one()
        cluster.status = "RUNNING"
        for op in s.scalars(select(Operation).where(Operation.cluster_id == cluster.id)):
            op.status = "COMPLETED"


def test_a_network_with_too_few_free_addresses_refuses_a_create_and_a_resize(bde) -> None:
    client, store = bde
    r = client.post("/serengeti/api/networks", json={
        "name": "tiny", "portGroup": "pg-tiny",
        "ipBlocks": [{"beginIp": "127.73.2.1", "endIp": "127.73.2.2"}]})
    assert r.status_code == 200 and r.json()["freeAddresses"] == 2
    before = _store_state(store)
    r = client.post(CREATE, json=_create(networkConfig={"MGT_NETWORK": "tiny"}))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "networkConfig.MGT_NETWORK"
    assert "network 'tiny' has 2 free addresses" in error["message"]
    assert "needs 3" in error["message"]
    assert _store_state(store) == before

    # one more address: the create fits, and a resize-out needs one it does not have
    r = client.put("/serengeti/api/network/tiny",
                   json={"ipBlocks": [{"beginIp": "127.73.2.3", "endIp": "127.73.2.3"}]})
    assert r.status_code == 200 and r.json()["freeAddresses"] == 3
    r = client.post(CREATE, json=_create(networkConfig={"MGT_NETWORK": "tiny"}))
    assert r.status_code == 202, r.text
    assert client.get("/serengeti/api/network/tiny").json()["freeAddresses"] == 0
    _running(store, "x1")
    before = _store_state(store)
    r = client.put("/serengeti/api/cluster/x1/nodegroup/etcd/instancenum", json=4)
    assert r.status_code == 422 and r.json()["error"]["field"] == "instanceNum"
    assert "network 'tiny' has 0 free addresses" in r.json()["error"]["message"]
    assert _store_state(store) == before
    # another cluster cannot have them either
    r = client.post(CREATE, json=_create(name="x2", networkNames=["tiny"],
                                         nodeGroups=[{"name": "etcd", "instanceNum": 1}]))
    assert r.status_code == 422 and "'tiny' has 0 free" in r.json()["error"]["message"]


def test_a_resource_pool_refuses_what_exceeds_its_limits_naming_what_is_left(bde) -> None:
    client, store = bde
    # etcd's default: 3 SMALL nodes of 1 CPU and 3748 MB
    r = client.post("/serengeti/api/resourcepools", json={
        "name": "small", "vcClusterName": "vc1", "memLimitMB": 10000, "cpuLimit": 4})
    assert r.status_code == 200, r.text
    before = _store_state(store)
    r = client.post(CREATE, json=_create(rpNames=["small"]))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "rpNames[0]"
    assert "resource pool 'small'" in error["message"]
    assert "11244 MB of memory, but 10000 of its 10000 MB of memory are left" in \
        error["message"]
    assert _store_state(store) == before

    r = client.post(CREATE, json=_create(rpNames=["small"],
                                         nodeGroups=[{"name": "etcd", "instanceNum": 2}]))
    assert r.status_code == 202, r.text
    pool = client.get("/serengeti/api/resourcepool/small").json()
    assert (pool["cpuUsed"], pool["memUsedMB"], pool["clusters"]) == (2, 7496, ["x1"])
    _running(store, "x1")
    before = _store_state(store)
    r = client.put("/serengeti/api/cluster/x1/nodegroup/etcd/instancenum", json=3)
    assert r.status_code == 422, r.text
    assert "11244 MB of memory, but 10000" in r.json()["error"]["message"]
    r = client.post(CREATE, json=_create(name="x2", rpNames=["small"], nodeGroups=[
        {"name": "etcd", "instanceNum": 1}]))
    assert r.status_code == 422
    assert "2504 of its 10000 MB of memory are left (7496 used by other clusters)" in \
        r.json()["error"]["message"]
    assert _store_state(store) == before


def test_the_seed_heat_plugins_own_calls_work(bde) -> None:
    """The seed plugin sends isDhcp as a string, no 'type' but 'distro', and names its
    network by port group; its stop script PUTs ?state=stop without a body."""
    client, store = bde
    r = client.post("/serengeti/api/networks", content=json.dumps(
        {"name": "tenant_net", "portGroup": "vxw-dvs-22-virtualwire-7", "isDhcp": "true"}),
        headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["isDhcp"] is True
    r = client.post(CREATE, content=json.dumps(
        {"name": "heat_etcd", "distro": "etcd",
         "networkConfig": {"MGT_NETWORK": ["vxw-dvs-22-virtualwire-7"]}}),
        headers={"content-type": "application/json"})
    assert r.status_code == 202, r.text
    # from the configured URL (here the default host and port), not the request's Host
    assert r.headers["Location"] == f"http://127.0.0.1:8470/serengeti/api/task/{r.json()['id']}"
    spec = client.get("/serengeti/api/cluster/heat_etcd/spec").json()
    assert spec["networkConfig"] == {"MGT_NETWORK": ["tenant_net"]} and spec["type"] == "etcd"
    _running(store, "heat_etcd")
    r = client.put("/serengeti/api/cluster/heat_etcd?state=stop",
                   headers={"content-type": "application/json"})
    assert r.status_code == 202, r.text
    task = client.get(urlsplit(r.headers["Location"]).path).json()  # cookie: testserver's
    assert (task["target"], task["status"], task["type"]) == ("heat_etcd", "STARTING", "INNER")
    assert client.get("/serengeti/api/cluster/heat_etcd").json()["status"] == "STOPPING"
    # BDE's defaultNetwork exists, as on a BDE server
    names = [n["name"] for n in client.get("/serengeti/api/networks").json()]
    assert names[0] == "defaultNetwork"


def test_urls_in_responses_come_from_the_configured_public_url(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    process = build(load_settings(state_dir=state_dir, engine=False,
                                  database_url=database_url(state_dir),
                                  local_subnet="127.62.0.0/16",
                                  public_url="https://ndovu.example:8443/"))
    password = (state_dir / "initial-admin-password").read_text().strip()
    with TestClient(process.app) as c:
        assert c.post("/serengeti/j_spring_security_check", data={
            "j_username": "admin", "j_password": password}).status_code == 200
        # whatever the request claims to be addressed to
        r = c.post(CREATE, json={"name": "e9", "type": "etcd"},
                   headers={"Host": "evil.example", "X-Forwarded-Proto": "http",
                            "X-Forwarded-Host": "evil.example"})
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == (
            f"https://ndovu.example:8443/serengeti/api/task/{r.json()['id']}")


def test_v1_creates_use_networks_and_resource_pools_too(client: TestClient,
                                                         tmp_path: Path) -> None:
    password = (tmp_path / "state" / "initial-admin-password").read_text().strip()
    # the same client also logs in to /serengeti, where networks are managed
    r = client.post("/serengeti/j_spring_security_check",
                    data={"j_username": "admin", "j_password": password})
    assert r.status_code == 200
    r = client.post("/serengeti/api/networks", json={
        "name": "tiny", "portGroup": "pg", "ipBlocks": [
            {"beginIp": "127.73.3.1", "endIp": "127.73.3.2"}]})
    assert r.status_code == 200
    r = client.post("/v1/clusters", json={"name": "v1_etcd", "type": "etcd", "network": "tiny"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "network"
    assert "network 'tiny' has 2 free addresses" in r.json()["error"]["message"]
    r = client.post("/v1/clusters", json={"name": "v1_etcd", "type": "etcd",
                                          "resourcePool": "nope"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "resourcePool"
    _nothing_changed(client, tmp_path / "state")
    r = client.post("/v1/clusters", json={"name": "v1_etcd", "type": "etcd", "network": "tiny",
                                          "nodeGroups": [{"name": "etcd", "instanceNum": 2}]})
    assert r.status_code == 202, r.text
    assert client.get("/v1/clusters/v1_etcd").json()["network"] == "tiny"
