"""/v1/networks, /v1/resourcepools and /v1/datastores through the real app.

The app is the real one (real SQLite store, real catalog), its engine not started (a
request that wrongly got through would show up in the reads); the last test runs a real
server and a real etcd member on a network made through /v1.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ndovu.config import load_settings
from ndovu.server import build
from tests.databases import database_url
from tests.helpers import Server, authenticate_test_client, processes_under, wait_operation

BLOCK = {"beginIp": "127.73.0.1", "endIp": "127.73.0.9"}

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration


@pytest.fixture
def client(tmp_path: Path):
    settings = load_settings(state_dir=tmp_path / "state", engine=False,
                             database_url=database_url(tmp_path / "state"),
                             local_subnet="127.62.0.0/16")
    process = build(settings)
    with TestClient(process.app) as c:
        yield authenticate_test_client(c, tmp_path / "state")


@pytest.fixture
def placed(client: TestClient) -> TestClient:
    """A network, a resource pool and a datastore, and a cluster ``e1`` placed on them."""
    for path, body in (("networks", {"name": "net1", "ipBlocks": [BLOCK]}),
                       ("resourcepools", {"name": "rp1", "cpuLimit": 64}),
                       ("datastores", {"name": "ds1", "spec": ["local-ssd"],
                                       "type": "LOCAL"})):
        r = client.post(f"/v1/{path}", json=body)
        assert r.status_code == 201, r.text
    r = client.post("/v1/clusters", json={"name": "e1", "type": "etcd", "network": "net1",
                                          "resourcePool": "rp1", "datastores": ["ds1"]})
    assert r.status_code == 202, r.text
    return client


def _state(client: TestClient) -> dict:
    """Everything these calls could change, as the API reads it."""
    return {path: client.get(f"/v1/{path}").json()
            for path in ("networks", "resourcepools", "datastores", "clusters", "operations")}


# -- create, list, show, update, delete --------------------------------------------------


def test_a_network_is_created_listed_shown_updated_and_deleted(client: TestClient) -> None:
    r = client.post("/v1/networks", json={
        "name": "net one", "ipBlocks": [BLOCK], "dns1": "127.0.0.53", "gateway": "127.73.0.254",
        "netmask": "24"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == "/v1/networks/net%20one"
    net = r.json()
    assert (net["name"], net["isDhcp"], net["builtIn"], net["portGroup"]) == (
        "net one", False, False, "net one")
    assert net["ipBlocks"] == [BLOCK] and net["netmask"] == "255.255.255.0"
    assert (net["totalAddresses"], net["freeAddresses"], net["clusters"]) == (9, 9, [])

    listed = client.get("/v1/networks").json()["networks"]
    assert [n["name"] for n in listed] == ["defaultNetwork", "net one"]
    assert listed[0]["builtIn"] and listed[0]["isDhcp"] and listed[0]["freeAddresses"] is None
    assert client.get("/v1/networks/net one").json() == net

    r = client.put("/v1/networks/net one", json={
        "ipBlocks": [{"beginIp": "127.73.0.20", "endIp": "127.73.0.20"}], "dns2": "127.0.0.54"})
    assert r.status_code == 200, r.text
    assert r.json()["ipBlocks"] == [BLOCK, {"beginIp": "127.73.0.20", "endIp": "127.73.0.20"}]
    assert (r.json()["freeAddresses"], r.json()["dns1"], r.json()["dns2"]) == (
        10, "127.0.0.53", "127.0.0.54")

    dhcp = client.post("/v1/networks", json={"name": "dyn", "isDhcp": True})
    assert dhcp.status_code == 201 and dhcp.json()["totalAddresses"] is None

    r = client.delete("/v1/networks/net one")
    assert r.status_code == 204 and r.content == b""
    assert client.get("/v1/networks/net one").status_code == 404
    assert [n["name"] for n in client.get("/v1/networks").json()["networks"]] == [
        "defaultNetwork", "dyn"]


def test_a_resource_pool_and_a_datastore_are_created_listed_shown_and_deleted(
        client: TestClient) -> None:
    r = client.post("/v1/resourcepools", json={"name": "rp1", "cpuLimit": 8,
                                               "memLimitMB": 16000})
    assert r.status_code == 201 and r.headers["Location"] == "/v1/resourcepools/rp1"
    pool = r.json()
    assert (pool["cpuLimit"], pool["memLimitMB"], pool["cpuUsed"], pool["memUsedMB"],
            pool["cpuFree"], pool["memFreeMB"], pool["clusters"]) == (8, 16000, 0, 0, 8,
                                                                      16000, [])
    unlimited = client.post("/v1/resourcepools", json={"name": "all"}).json()
    assert (unlimited["cpuLimit"], unlimited["cpuFree"]) == (None, None)
    assert [p["name"] for p in client.get("/v1/resourcepools").json()["resourcePools"]] == [
        "all", "rp1"]
    assert client.get("/v1/resourcepools/rp1").json() == pool
    assert client.delete("/v1/resourcepools/rp1").status_code == 204
    assert client.get("/v1/resourcepools/rp1").status_code == 404

    r = client.post("/v1/datastores", json={"name": "ds1", "spec": ["ssd-.*"], "regex": True})
    assert r.status_code == 201, r.text
    assert r.json() | {"links": None} == {"name": "ds1", "type": "SHARED", "spec": ["ssd-.*"],
                                          "regex": True, "clusters": [], "links": None}
    assert client.get("/v1/datastores/ds1").json() == r.json()
    assert [d["name"] for d in client.get("/v1/datastores").json()["datastores"]] == ["ds1"]
    assert client.delete("/v1/datastores/ds1").status_code == 204
    assert client.get("/v1/datastores").json() == {"datastores": []}


def test_reads_show_the_clusters_and_what_they_use(placed: TestClient) -> None:
    net = placed.get("/v1/networks/net1").json()
    # etcd's default: 3 nodes, each owed an address of net1 (the engine is off)
    assert (net["freeAddresses"], net["clusters"]) == (6, ["e1"])
    pool = placed.get("/v1/resourcepools/rp1").json()
    assert (pool["cpuUsed"], pool["memUsedMB"], pool["cpuFree"], pool["clusters"]) == (
        3, 3 * 3748, 61, ["e1"])
    assert placed.get("/v1/datastores/ds1").json()["clusters"] == ["e1"]
    cluster = placed.get("/v1/clusters/e1").json()
    assert (cluster["network"], cluster["resourcePool"], cluster["datastores"]) == (
        "net1", "rp1", ["ds1"])


def test_both_surfaces_see_the_same_resources(client: TestClient, tmp_path: Path) -> None:
    """One set of rows and rules: made through /v1, read and refused through /serengeti."""
    password = (tmp_path / "state" / "initial-admin-password").read_text().strip()
    assert client.post("/serengeti/j_spring_security_check",
                       data={"j_username": "admin", "j_password": password}).status_code == 200
    assert client.post("/v1/networks", json={"name": "net1", "ipBlocks": [BLOCK]}
                       ).status_code == 201
    assert client.get("/serengeti/api/network/net1").json()["freeAddresses"] == 9
    r = client.post("/serengeti/api/networks", json={
        "name": "net2", "portGroup": "pg", "ipBlocks": [
            {"beginIp": "127.73.0.9", "endIp": "127.73.0.12"}]})
    assert r.status_code == 409 and "net1" in r.json()["error"]["message"]
    assert client.post("/serengeti/api/resourcepools", json={
        "name": "rp1", "vcClusterName": "vc1", "cpuLimit": 2}).status_code == 200
    assert client.get("/v1/resourcepools/rp1").json()["cpuLimit"] == 2


# -- bad input: 404 / 409 / 422, nothing changed ----------------------------------------

NETS = "/v1/networks"
POOLS = "/v1/resourcepools"
STORES = "/v1/datastores"

# (method, path, JSON body (None: no body), status, field, words in message + hint)
BAD_INPUT = [
    ("POST", NETS, {"ipBlocks": [BLOCK]}, 422, "name", "required"),
    ("POST", NETS, {"name": "n2"}, 422, "ipBlocks", "static"),
    # names: ASCII only (no look-alike of another name), built-in names in any case
    ("POST", NETS, {"name": "defaultNetw\u043erk", "isDhcp": True}, 422, "name",
     "letters, digits"),
    ("POST", NETS, {"name": "DEFAULTNETWORK", "isDhcp": True}, 409, "name", "already"),
    # free text: bounded, printable
    ("POST", NETS, {"name": "n2", "isDhcp": True, "portGroup": "p" * 900_000}, 422,
     "portGroup", "at most 200"),
    ("POST", NETS, {"name": "n2", "isDhcp": True, "portGroup": "pg\n1"}, 422, "portGroup",
     "printable"),
    ("POST", NETS, {"name": "n2", "ipBlocks": [{"beginIp": "10.0.0.1", "endIp": "10.0.0.9"}]},
     422, "ipBlocks[0]", "127.0.0.0/8"),
    ("POST", NETS, {"name": "n2", "ipBlocks": [{"beginIp": "127.73.1.x", "endIp": "127.73.1.9"}]},
     422, "ipBlocks[0].beginIp", "IPv4"),
    ("POST", NETS, {"name": "n2", "ipBlocks": [{"beginIp": "127.73.1.9", "endIp": "127.73.1.1"}]},
     422, "ipBlocks[0]", "before"),
    ("POST", NETS, {"name": "n2", "ipBlocks": [{"beginIp": "127.73.1.1"}]}, 422,
     "ipBlocks[0].endIp", "required"),
    ("POST", NETS, {"name": "n2", "ipBlocks": [{"beginIp": "127.73.0.5", "endIp": "127.73.0.20"}]},
     409, "ipBlocks[0]", "net1"),
    ("POST", NETS, {"name": "n2", "isDhcp": True, "ipBlocks": [BLOCK]}, 422, "ipBlocks", "DHCP"),
    ("POST", NETS, {"name": "n2", "isDhcp": "yes"}, 422, "isDhcp", ""),
    ("POST", NETS, {"name": "n2", "isDhcp": True, "dns1": "dns.example"}, 422, "dns1", "IPv4"),
    ("POST", NETS, {"name": "n2", "isDhcp": True, "netmask": "255.0.255.0"}, 422, "netmask",
     "netmask"),
    ("POST", NETS, {"name": "n/2", "isDhcp": True}, 422, "name", "letters"),
    ("POST", NETS, {"name": "n2", "isDhcp": True, "dnsType": "NORMAL"}, 422, "dnsType",
     "unknown"),
    ("POST", NETS, {"name": "net1", "isDhcp": True}, 409, "name", "already exists"),
    ("POST", NETS, {"name": "defaultNetwork", "isDhcp": True}, 409, "name", "already exists"),
    ("POST", NETS, [BLOCK], 422, None, "JSON object"),
    ("GET", f"{NETS}/nope", None, 404, "name", "GET /v1/networks lists"),
    ("PUT", f"{NETS}/net1", {}, 422, "ipBlocks", "nothing else"),
    ("PUT", f"{NETS}/net1", {"gateway": "127.73.0.254"}, 422, "gateway", "unknown"),
    ("PUT", f"{NETS}/net1", {"ipBlocks": [{"beginIp": "10.1.1.1", "endIp": "10.1.1.2"}]}, 422,
     "ipBlocks[0]", "127.0.0.0/8"),
    ("PUT", f"{NETS}/net1", {"ipBlocks": [{"beginIp": "127.73.0.5", "endIp": "127.73.0.6"}]},
     422, "ipBlocks[0]", "overlaps"),
    ("PUT", f"{NETS}/nope", {"dns1": "127.0.0.53"}, 404, "name", "nope"),
    ("PUT", f"{NETS}/defaultNetwork", {"dns1": "127.0.0.53"}, 409, "name", "built in"),
    ("DELETE", f"{NETS}/nope", None, 404, "name", "nope"),
    ("DELETE", f"{NETS}/net1", None, 409, "name", "e1"),
    ("DELETE", f"{NETS}/defaultNetwork", None, 409, "name", "built in"),
    ("POST", POOLS, {"cpuLimit": 2}, 422, "name", "required"),
    ("POST", POOLS, {"name": "rp2", "cpuLimit": 0}, 422, "cpuLimit", ""),
    ("POST", POOLS, {"name": "rp2", "memLimitMB": "4096"}, 422, "memLimitMB", ""),
    # more than the store's integers hold: a 422, never a 500
    ("POST", POOLS, {"name": "rp2", "cpuLimit": 99999999999999999999}, 422, "cpuLimit",
     "2147483647"),
    ("POST", POOLS, {"name": "rp2", "memLimitMB": 2**31}, 422, "memLimitMB", "2147483647"),
    ("POST", POOLS, {"name": "rp2", "vcClusterName": "vc"}, 422, "vcClusterName", "unknown"),
    ("POST", POOLS, {"name": "rp 2 "}, 422, "name", "letters"),
    ("POST", POOLS, {"name": "rp1"}, 409, "name", "already exists"),
    ("GET", f"{POOLS}/nope", None, 404, "name", "GET /v1/resourcepools lists"),
    ("DELETE", f"{POOLS}/nope", None, 404, "name", "nope"),
    ("DELETE", f"{POOLS}/rp1", None, 409, "name", "e1"),
    ("POST", STORES, {"name": "ds2"}, 422, "spec", "1 to 64"),
    ("POST", STORES, {"name": "ds2", "spec": ["x"] * 65}, 422, "spec", "1 to 64"),
    ("POST", STORES, {"name": "ds2", "spec": ["x" * 201]}, 422, "spec[0]", "at most 200"),
    ("POST", STORES, {"name": "ds2", "spec": ["x"], "type": "NFS"}, 422, "type", "SHARED"),
    ("POST", STORES, {"name": "ds2", "spec": ["("], "regex": True}, 422, "spec[0]", "pattern"),
    ("POST", STORES, {"name": "ds1", "spec": ["x"]}, 409, "name", "already exists"),
    ("GET", f"{STORES}/nope", None, 404, "name", "GET /v1/datastores lists"),
    ("DELETE", f"{STORES}/nope", None, 404, "name", "nope"),
    ("DELETE", f"{STORES}/ds1", None, 409, "name", "e1"),
    # a cluster's placement names what exists, and fits
    ("POST", "/v1/clusters", {"name": "x1", "type": "etcd", "network": "nope"}, 422, "network",
     "'nope'"),
    ("POST", "/v1/clusters", {"name": "x1", "type": "etcd", "datastores": ["ds1", "nope"]},
     422, "datastores[1]", "'nope'"),
    ("POST", "/v1/clusters", {"name": "x1", "type": "etcd", "network": "net1",
                              "nodeGroups": [{"name": "etcd", "instanceNum": 7}]}, 422,
     "network", "network 'net1' has 6 free addresses"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field", "words"), BAD_INPUT,
                         ids=[f"{m} {p} {json.dumps(b)[:40]}" for m, p, b, *_ in BAD_INPUT])
def test_bad_input_is_refused_and_changes_nothing(placed: TestClient, method: str, path: str,
                                                  body, status: int, field: str | None,
                                                  words: str) -> None:
    before = _state(placed)
    r = placed.request(method, path, json=body)  # None: no body
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]
    assert error.get("field") == field, error
    assert words in error["message"] + error.get("hint", ""), error
    assert _state(placed) == before


def test_malformed_json_is_a_400(placed: TestClient) -> None:
    before = _state(placed)
    for path, method in ((NETS, "POST"), (f"{NETS}/net1", "PUT"), (POOLS, "POST"),
                         (STORES, "POST")):
        r = placed.request(method, path, content=b'{"name": ',
                           headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json", path
    assert _state(placed) == before


def test_a_pool_limited_create_is_refused_naming_what_is_left(client: TestClient) -> None:
    assert client.post("/v1/resourcepools", json={"name": "small", "cpuLimit": 4,
                                                  "memLimitMB": 10000}).status_code == 201
    before = _state(client)
    r = client.post("/v1/clusters", json={"name": "x1", "type": "etcd",
                                          "resourcePool": "small"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "resourcePool"
    assert "11244 MB of memory, but 10000 of its 10000 MB of memory are left" in \
        error["message"]
    assert _state(client) == before
    r = client.post("/v1/clusters", json={"name": "x1", "type": "etcd", "resourcePool": "small",
                                          "nodeGroups": [{"name": "etcd", "instanceNum": 2}]})
    assert r.status_code == 202, r.text
    pool = client.get("/v1/resourcepools/small").json()
    assert (pool["cpuUsed"], pool["memFreeMB"], pool["clusters"]) == (2, 10000 - 7496, ["x1"])


def test_a_full_network_refuses_a_create_until_blocks_are_added(client: TestClient) -> None:
    assert client.post("/v1/networks", json={"name": "tiny", "ipBlocks": [
        {"beginIp": "127.73.2.1", "endIp": "127.73.2.2"}]}).status_code == 201
    before = _state(client)
    r = client.post("/v1/clusters", json={"name": "x1", "type": "etcd", "network": "tiny"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "network"
    assert "network 'tiny' has 2 free addresses" in r.json()["error"]["message"]
    assert _state(client) == before
    r = client.put("/v1/networks/tiny",
                   json={"ipBlocks": [{"beginIp": "127.73.2.3", "endIp": "127.73.2.3"}]})
    assert r.status_code == 200 and r.json()["freeAddresses"] == 3
    r = client.post("/v1/clusters", json={"name": "x1", "type": "etcd", "network": "tiny"})
    assert r.status_code == 202, r.text
    assert client.get("/v1/networks/tiny").json()["freeAddresses"] == 0


def test_every_resource_call_needs_the_bearer_token(placed: TestClient) -> None:
    before = _state(placed)
    anonymous = TestClient(placed.app)
    for method, path in (("GET", NETS), ("POST", NETS), ("GET", f"{NETS}/net1"),
                         ("PUT", f"{NETS}/net1"), ("DELETE", f"{NETS}/net1"),
                         ("GET", POOLS), ("POST", POOLS), ("GET", f"{POOLS}/rp1"),
                         ("DELETE", f"{POOLS}/rp1"), ("GET", STORES), ("POST", STORES),
                         ("GET", f"{STORES}/ds1"), ("DELETE", f"{STORES}/ds1")):
        r = anonymous.request(method, path, json={"name": "x", "isDhcp": True})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "unauthorized"
    assert _state(placed) == before


def test_openapi_describes_the_resources(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for collection, read, listing in (("networks", "NetworkRead", "NetworkList"),
                                      ("resourcepools", "ResourcePoolRead", "ResourcePoolList"),
                                      ("datastores", "DatastoreRead", "DatastoreList")):
        paths = spec["paths"]
        created = paths[f"/v1/{collection}"]["post"]["responses"]
        assert created["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
            f"/{read}")
        assert created["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse")
        listed = paths[f"/v1/{collection}"]["get"]["responses"]["200"]
        assert listed["content"]["application/json"]["schema"]["$ref"].endswith(f"/{listing}")
        assert "204" in paths[f"/v1/{collection}/{{name}}"]["delete"]["responses"]
    assert "put" in spec["paths"]["/v1/networks/{name}"]
    fields = spec["components"]["schemas"]["NetworkRead"]["properties"]
    assert {"freeAddresses", "assigned", "clusters", "ipBlocks"} <= set(fields)


# -- a real server: the nodes get the network's addresses --------------------------------

NET_BLOCK = ("127.75.0.10", "127.75.0.19")


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "state", subnet="127.74.0.0/16").start()
    yield srv
    srv.stop()
    for pid in processes_under(srv.state_dir):  # whatever a failed test left behind
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.integration
def test_a_v1_cluster_on_a_v1_network_gets_addresses_from_its_block(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/networks", json={"name": "net75", "ipBlocks": [
            {"beginIp": NET_BLOCK[0], "endIp": NET_BLOCK[1]}]})
        assert r.status_code == 201, r.text
        r = c.post("/v1/clusters", json={"name": "v1_etcd", "type": "etcd", "network": "net75",
                                         "nodeGroups": [{"name": "etcd", "instanceNum": 1}]})
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "COMPLETED", op
        cluster = c.get("/v1/clusters/v1_etcd").json()
        [node] = [n for g in cluster["nodeGroups"] for n in g["instances"]]
        low, high = (ipaddress.IPv4Address(a) for a in NET_BLOCK)
        assert low <= ipaddress.IPv4Address(node["ip"]) <= high, node
        assert cluster["network"] == "net75" and cluster["status"] == "RUNNING"
        net = c.get("/v1/networks/net75").json()
        assert net["assigned"] == [{"ipAddress": node["ip"], "cluster": "v1_etcd",
                                    "node": node["name"]}]
        assert (net["freeAddresses"], net["clusters"]) == (9, ["v1_etcd"])
        assert c.delete("/v1/networks/net75").status_code == 409

        op = wait_operation(c, c.delete("/v1/clusters/v1_etcd").json()["id"])
        assert op["status"] == "COMPLETED", op
        assert c.delete("/v1/networks/net75").status_code == 204
