"""`ndovu server --provider openstack` against the real test cloud: what the cloud refuses
reaches the node's errMessage and the operation in the cloud's words with its request id,
within one pass, and never with the cloud's password; deleting the cluster then leaves
nothing of it in Nova or Neutron."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openstack.connection import Connection

from tests.helpers import Server, run_operation
from tests.openstack.cloud import IMAGE, Cloud
from tests.openstack.test_openstack_provider import NOTHING, _left_of

pytestmark = pytest.mark.openstack


def test_a_quota_refusal_fails_the_create_in_the_clouds_words_and_delete_clears_it(
        cloud: Cloud, project: Connection, tmp_path: Path) -> None:
    cloud.make_network(project, "nodes", "10.30.0.0/24")
    options = {"auth": cloud.auth(), "network": "nodes", "image": IMAGE}
    server = Server(tmp_path / "state", subnet="127.102.0.0/16", env={
        "NDOVU_PROVIDER": "openstack", "NDOVU_PROVIDER_OPTIONS": json.dumps(options)}).start()
    try:
        cloud.set_compute_quotas(instances=0)
        with server.client() as client:
            op = run_operation(client, "POST", "/v1/clusters",
                               name="zk", type="zookeeper", timeout=120)
            assert op["status"] == "FAILED", op
            cluster = client.get("/v1/clusters/zk").json()
            nodes = [n for g in cluster["nodeGroups"] for n in g["instances"]]
            errors = {n["name"]: n.get("errMessage") or "" for n in nodes}
            assert errors and all("Quota exceeded for instances" in e and "(request req-" in e
                                  for e in errors.values()), errors
            assert "Quota exceeded for instances" in (op.get("errorMessage") or ""), op
            events = client.get(f"/v1/operations/{op['id']}/events").json()["events"]

            cloud.lift_quotas()
            assert run_operation(client, "DELETE", "/v1/clusters/zk")["status"] == (
                "COMPLETED")
        assert _left_of(project, "zk") == NOTHING
        seen = json.dumps([op, cluster, events]) + server.log.read_text()
        for password in cloud.passwords.values():
            assert password not in seen
    finally:
        server.stop()
