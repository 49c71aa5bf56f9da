"""A CFN JSON stack shaped like the seed plugin's template: VirtualElephant::VMware::BDE
with the endpoint and credentials in the template, cluster_net naming an ndovu network.
Run on Heat's legacy (non-convergence) engine path, so both paths are covered."""

from __future__ import annotations

import ipaddress
import json
import sys
import uuid

from tests.heat.harness import load_template
from tests.helpers import etcdctl, node_pids

NETWORK = {"name": "mgmtNetwork", "ipBlocks": [{"beginIp": "127.90.7.1",
                                                 "endIp": "127.90.7.20"}]}


def _plugin_tokens() -> list[str]:
    """The bearer tokens the plugin keeps in this process (loaded by Heat as a plugin)."""
    module = sys.modules["heat.engine.plugins.client"]
    return list(module._tokens.values())


def test_cfn_seed_template_creates_a_working_cluster(heat, ndovu_server) -> None:
    with ndovu_server.client() as c:
        r = c.post("/v1/networks", json=NETWORK)
        assert r.status_code == 201, r.text
    name = "etcd_tenant_01"
    params = {"bde_endpoint": ndovu_server.url, "username": "admin",
              "password": ndovu_server.admin_password, "cluster_name": name,
              "cluster_type": "etcd", "cluster_network": "mgmtNetwork"}
    stack = heat.create("cfn-seed", load_template("bde-seed.json"), params,
                        convergence=False)
    assert (stack["stack_action"], stack["stack_status"]) == ("CREATE", "COMPLETE"), \
        stack["stack_status_reason"]
    identity = stack["stack_identity"]

    with ndovu_server.client() as c:
        cluster = c.get(f"/v1/clusters/{name}").json()
    assert cluster["status"] == "RUNNING" and cluster["network"] == "mgmtNetwork"
    nodes = [n for g in cluster["nodeGroups"] for n in g["instances"]]
    real = [n["ip"] for n in nodes]
    block = range(int(ipaddress.ip_address("127.90.7.1")),
                  int(ipaddress.ip_address("127.90.7.20")) + 1)
    assert len(real) == 3 and all(int(ipaddress.ip_address(ip)) in block for ip in real)

    outputs = heat.outputs(identity)
    assert outputs["ClusterName"] == name
    assert outputs["Status"] == "RUNNING"
    assert outputs["Addresses"] == real
    assert [n["addresses"] for n in outputs["Nodes"]] == [[ip] for ip in real]
    assert outputs["Endpoints"] == cluster["endpoints"]
    assert outputs["EtcdClientUrls"] == ",".join(f"http://{ip}:2379" for ip in real)
    assert outputs["FloatingIps"] == []

    # the cluster works: a key written through one member is read through another
    key, value = f"/heat-proof/{uuid.uuid4().hex}", "written through a seed-shaped stack"
    etcdctl(real[0], "put", key, value)
    assert etcdctl(real[-1], "get", key, "--print-value-only").strip() == value

    # no token in anything Heat shows: events, the resource and its attributes
    tokens = _plugin_tokens()
    assert tokens
    shown = json.dumps([heat.events(identity), heat.resource(identity, "Etcd-Tenant-0"),
                        heat.show(identity)], default=str)
    assert not any(t in shown for t in tokens)
    # the template's password reaches Heat's own records only as a NoEcho parameter
    assert "******" in json.dumps(heat.show(identity)["parameters"])

    heat.delete(identity)
    with ndovu_server.client() as c:
        assert c.get(f"/v1/clusters/{name}").status_code == 404
        assert c.delete("/v1/networks/mgmtNetwork").status_code == 204
    for node in nodes:
        node_dir = ndovu_server.state_dir / "nodes" / node["name"]
        assert node_pids(node_dir) == [] and not node_dir.exists()


def test_the_seed_type_registers_an_unknown_cluster_net_and_the_native_one_does_not(
        heat, ndovu_server) -> None:
    """As the seed plugin did (POST /networks {name, portGroup, isDhcp}): the seed's
    template names "mgmtNetwork" and runs without preparation. Ndovu::Cluster keeps
    refusing a network nobody made, with ndovu's words."""
    name = "etcd_seed_net"
    params = {"bde_endpoint": ndovu_server.url, "username": "admin",
              "password": ndovu_server.admin_password, "cluster_name": name,
              "cluster_type": "etcd", "cluster_network": "seedNet"}
    stack = heat.create("cfn-seed-net", load_template("bde-seed.json"), params,
                        convergence=False)
    assert stack["stack_status"] == "COMPLETE", stack["stack_status_reason"]
    with ndovu_server.client() as c:
        network = c.get("/v1/networks/seedNet").json()
        assert (network["isDhcp"], network["portGroup"]) == (True, "seedNet")
        assert c.get(f"/v1/clusters/{name}").json()["network"] == "seedNet"
    heat.delete(stack["stack_identity"])

    native = {"heat_template_version": "2018-08-31", "resources": {"cluster": {
        "type": "Ndovu::Cluster",
        "properties": {"name": "etcd_no_net", "cluster_type": "etcd",
                       "network": "nobodysNet"}}}}
    refused = heat.create("native-no-net", native)
    assert refused["stack_status"] == "FAILED"
    assert "nobodysNet" in refused["stack_status_reason"]
    heat.delete(refused["stack_identity"])
    with ndovu_server.client() as c:
        assert c.get("/v1/networks/nobodysNet").status_code == 404
        assert c.get("/v1/clusters/etcd_no_net").status_code == 404
        assert c.delete("/v1/networks/seedNet").status_code == 204
