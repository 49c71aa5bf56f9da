"""/serengeti/api in the OpenAPI document: every read shape is declared, and the declared
models describe the real bodies exactly (nothing dropped, nothing undeclared).

The app is the real one (real SQLite store, real catalog) with its engine off; where a
body only has content once the engine ran (a node's address), the test writes what the
engine would have written into the store."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import select

from ndovu.api.serengeti import models, views
from ndovu.config import load_settings
from ndovu.server import build
from ndovu.store.models import Cluster, Datastore, Network, Operation, ResourcePool
from tests.databases import database_url

API = "/serengeti/api"
BLOCK = {"beginIp": "127.74.0.1", "endIp": "127.74.0.9"}

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration


@pytest.fixture
def process(tmp_path: Path):
    settings = load_settings(state_dir=tmp_path / "state", engine=False,
                             database_url=database_url(tmp_path / "state"),
                             local_subnet="127.62.0.0/16")
    return build(settings)


@pytest.fixture
def bde(process, tmp_path: Path):
    """A TestClient logged in with BDE's form login."""
    password = (tmp_path / "state" / "initial-admin-password").read_text().strip()
    with TestClient(process.app) as c:
        r = c.post("/serengeti/j_spring_security_check",
                   data={"j_username": "admin", "j_password": password})
        assert r.status_code == 200, r.text
        TypeAdapter(models.BdeLoginRead).validate_python(r.json())
        yield c


def _schema_refs(schema: dict[str, Any]) -> str | None:
    """The component a response schema names, directly or as a list's items."""
    return schema.get("$ref") or schema.get("items", {}).get("$ref")


def test_openapi_builds_without_warnings_and_declares_every_serengeti_shape(process) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with TestClient(process.app) as c:
            document = c.get("/openapi.json").json()
    assert [str(w.message) for w in caught] == []

    operations = [(path, method, op) for path, ops in document["paths"].items()
                  for method, op in ops.items()]
    ids = [op["operationId"] for _, _, op in operations]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)

    serengeti = [(p, m, op) for p, m, op in operations if p.startswith("/serengeti/")]
    assert any(m == "get" and p.startswith(API) for p, m, _ in serengeti)
    for path, method, op in serengeti:
        ok = next(code for code in op["responses"] if code.startswith("2"))
        schema = op["responses"][ok]["content"]["application/json"]["schema"]
        ref = _schema_refs(schema)
        assert ref and ref.startswith("#/components/schemas/Bde"), (method, path, schema)
        for code in ("404", "409", "422"):  # the error shape, as on /v1
            error = op["responses"][code]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
        if path.startswith(API) and "j_spring_security" not in path:
            assert "401" in op["responses"], (method, path)  # the session is required
    task = document["components"]["schemas"]["BdeTaskRead"]
    assert list(task["properties"]) == ["id", "status", "type", "progress", "errorMessage",
                                        "progressMessage", "target", "succeedNodes",
                                        "failNodes"]
    node = document["components"]["schemas"]["BdeNodeRead"]
    assert node["properties"]["ipConfigs"]["additionalProperties"]["items"] == {
        "$ref": "#/components/schemas/BdeIpConfig"}


def _as_json(value: Any) -> str:
    return json.dumps(value)  # order-sensitive: the body's keys keep the views' order


def _check(client: TestClient, path: str, model: Any, expected: Any, *,
           method: str = "GET", **kwargs: Any) -> Any:
    """The body validates against its model, is what the model gives back unchanged (no
    field the model does not declare) and is exactly what the view built (no field the
    model dropped)."""
    r = client.request(method, API + path, **kwargs)
    assert r.status_code in (200, 202), r.text
    body = r.json()
    adapter = TypeAdapter(model)
    assert _as_json(adapter.dump_python(adapter.validate_python(body), mode="json")) \
        == _as_json(body)
    if expected is not None:
        assert _as_json(body) == _as_json(json.loads(json.dumps(expected))), path
    return body


def _row(s: Any, table: type, name: str) -> Any:
    return s.scalars(select(table).where(table.name == name)).one()


def test_real_bodies_match_their_models(bde: TestClient, process) -> None:
    ctx = process.app.state.ndovu
    store = process.store
    # created through the real app: their answers are the view's read of the new row
    net = _check(bde, "/networks", models.BdeNetworkRead, None, method="POST",
                 json={"name": "net1", "portGroup": "pg1", "ipBlocks": [BLOCK],
                       "dns1": "127.0.0.53"})
    pool = _check(bde, "/resourcepools", models.BdeResourcePoolRead, None, method="POST",
                  json={"name": "rp1", "vcClusterName": "vc1", "cpuLimit": 64})
    ds = _check(bde, "/datastores", models.BdeDatastoreRead, None, method="POST",
                json={"name": "ds1", "spec": ["local-ssd"], "type": "LOCAL"})
    task = _check(bde, "/clusters", models.BdeTaskRead, None, method="POST",
                  json={"name": "e1", "type": "etcd", "networkConfig": {"MGT_NETWORK": "net1"},
                        "rpNames": ["rp1"], "dsNames": ["ds1"]})
    assert task["status"] == "STARTING"  # the engine is off: it stays waiting
    # a cluster from a full spec: no catalog type, so distro and vendor are null
    _check(bde, "/clusters", models.BdeTaskRead, None, method="POST",
           json={"name": "s1", "specFile": True, "nodeGroups": [
               {"name": "g", "roles": ["etcd"], "instanceNum": 1}]})

    # what the engine writes once e1's nodes exist: provider ids and addresses
    with store.session() as s:
        for i, node in enumerate(sorted(_row(s, Cluster, "e1").nodes, key=lambda n: n.index)):
            node.provider_id, node.address = f"pid-{i}", f"127.74.0.{i + 1}"

    with store.session() as s:
        e1, s1 = _row(s, Cluster, "e1"), _row(s, Cluster, "s1")
        ops = s.scalars(select(Operation).order_by(Operation.id.desc())).all()
        expected = {
            "network": views.network_read(s, _row(s, Network, "net1")),
            "pool": views.resource_pool_read(s, _row(s, ResourcePool, "rp1")),
            "datastore": views.datastore_read(s, _row(s, Datastore, "ds1")),
            "tasks": [views.task_read(op) for op in ops],
            "e1": views.cluster_read(ctx, s, e1),
            "s1": views.cluster_read(ctx, s, s1),
            "list": [views.cluster_read(ctx, s, c, details=False) for c in (e1, s1)],
            "details": [views.cluster_read(ctx, s, c) for c in (e1, s1)],
            "spec": views.cluster_spec(ctx, e1),
            "custom_spec": views.cluster_spec(ctx, s1),
        }
    assert (net["name"], pool["rpName"], ds["name"]) == ("net1", "rp1", "ds1")

    network = _check(bde, "/network/net1", models.BdeNetworkRead, expected["network"])
    assert network["ipAllocEntries"] and network["clusters"] == ["e1"]
    networks = _check(bde, "/networks", list[models.BdeNetworkRead], None)
    assert [n["name"] for n in networks] == ["defaultNetwork", "net1"]
    _check(bde, "/resourcepool/rp1", models.BdeResourcePoolRead, expected["pool"])
    _check(bde, "/resourcepools", list[models.BdeResourcePoolRead], [expected["pool"]])
    _check(bde, "/datastore/ds1", models.BdeDatastoreRead, expected["datastore"])
    _check(bde, "/datastores", list[models.BdeDatastoreRead], [expected["datastore"]])

    tasks = _check(bde, "/tasks", list[models.BdeTaskRead], expected["tasks"])
    assert [t["status"] for t in tasks] == ["STARTING", "STARTING"]
    _check(bde, f"/task/{task['id']}", models.BdeTaskRead, expected["tasks"][-1])

    e1_read = _check(bde, "/cluster/e1", models.BdeClusterRead, expected["e1"])
    instance = e1_read["nodeGroups"][0]["instances"][0]
    assert instance["ipConfigs"] == {"MGT_NETWORK": [{"ipAddress": "127.74.0.1",
                                                      "fqdn": "127.74.0.1"}]}
    assert e1_read["resourcePools"][0]["rpName"] == "rp1"
    s1_read = _check(bde, "/cluster/s1", models.BdeClusterRead, expected["s1"])
    assert s1_read["distro"] is None
    listed = _check(bde, "/clusters", list[models.BdeClusterRead], expected["list"])
    assert listed[0]["nodeGroups"][0]["instances"] is None
    _check(bde, "/clusters?details=true", list[models.BdeClusterRead], expected["details"])
    _check(bde, "/cluster/e1/spec", models.BdeClusterSpec, expected["spec"])
    _check(bde, "/cluster/s1/spec", models.BdeClusterSpec, expected["custom_spec"])

    distros = _check(bde, "/distros", list[models.BdeDistroRead],
                     [views.distro_read(d) for d in ctx.catalog.distros])
    assert distros, "the built-in catalog has distros"
    _check(bde, f"/distro/{distros[0]['name']}", models.BdeDistroRead, distros[0])

    # a delete answers {name, deleted}; a cluster's delete its task; logout its own shape
    assert bde.post(API + "/datastores", json={"name": "ds2", "spec": ["x"]}).status_code == 200
    _check(bde, "/datastore/ds2", models.BdeDeleted, {"name": "ds2", "deleted": True},
           method="DELETE")
    deleting = _check(bde, "/cluster/s1", models.BdeTaskRead, None, method="DELETE")
    assert deleting["type"] == "DELETE"
    r = bde.post("/serengeti/j_spring_security_logout")
    assert r.status_code == 200
    TypeAdapter(models.BdeLogoutRead).validate_python(r.json())


def test_every_model_is_used_by_a_route(process) -> None:
    """A model no route names would describe nothing: a leftover or a forgotten route."""
    document = process.app.openapi()
    declared = {name for name, value in vars(models).items()
                if isinstance(value, type) and issubclass(value, BaseModel)
                and value.__module__ == models.__name__}
    assert declared <= set(document["components"]["schemas"])
