"""Bad input answers a 4xx JSON error naming the field, and changes nothing.

The app is the real one (real SQLite store, real catalog, real plan validation); its
engine is not started, so a request that wrongly got through would show up as a row."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ndovu.config import load_settings
from ndovu.server import build
from tests.helpers import authenticate_test_client


@pytest.fixture
def client(tmp_path: Path):
    settings = load_settings(state_dir=tmp_path / "state", engine=False,
                             local_subnet="127.62.0.0/16")
    process = build(settings)
    with TestClient(process.app) as c:
        yield authenticate_test_client(c, tmp_path / "state")


def _nothing_changed(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/v1/clusters").json() == {"clusters": []}
    assert client.get("/v1/operations").json() == {"operations": []}
    nodes = tmp_path / "state" / "nodes"
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
])
def test_bad_create_is_refused_and_changes_nothing(client: TestClient, tmp_path: Path,
                                                   body: dict, status: int, field: str,
                                                   words: str) -> None:
    r = client.post("/v1/clusters", json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field, error
    assert error["code"] and error["message"]
    assert words in error["message"] + error.get("hint", ""), error
    _nothing_changed(client, tmp_path)


def test_malformed_json_is_a_400(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/v1/clusters", content=b'{"name": "zk", "type": ',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"
    _nothing_changed(client, tmp_path)


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
    _nothing_changed(client, tmp_path)


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


@pytest.mark.parametrize("body", [b"[]", b"null", b'"zookeeper"'])
def test_a_body_that_is_not_an_object_is_refused(client: TestClient, tmp_path: Path,
                                                 body: bytes) -> None:
    r = client.post("/v1/clusters", content=body,
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "the request body must be a JSON object"
    _nothing_changed(client, tmp_path)


def test_an_override_without_a_group_name_says_so(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/v1/clusters", json={"name": "zk", "type": "zookeeper",
                                          "nodeGroups": [{"instanceNum": 3}]})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "nodeGroups[0].name"
    assert "needs the 'name'" in r.json()["error"]["message"]
    _nothing_changed(client, tmp_path)
