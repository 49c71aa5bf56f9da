"""``ndovu network|pool|datastore`` and ``cluster create --network/--pool/--datastore``,
run with CliRunner against a fake REST API over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

import tests.fake_api as fake
from ndovu.cli.main import app

Json = dict[str, Any]
BLOCK = {"beginIp": "127.73.0.1", "endIp": "127.73.0.9"}


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NDOVU_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(app, list(args), env=env)

    return invoke


def network(name: str = "net1", *, blocks: list[Json] | None = None, free: int | None = 9,
            assigned: list[Json] | None = None, clusters: list[str] | None = None) -> Json:
    blocks = [BLOCK] if blocks is None else blocks
    return {"name": name, "portGroup": name, "isDhcp": not blocks, "builtIn": False,
            "ipBlocks": blocks, "dns1": "127.0.0.53", "dns2": None, "gateway": None,
            "netmask": "255.255.0.0", "totalAddresses": 9 if blocks else None,
            "freeAddresses": free if blocks else None,
            "freeIpBlocks": [{"beginIp": "127.73.0.2", "endIp": "127.73.0.9"}] if blocks
            else [], "assigned": assigned or [], "clusters": clusters or [],
            "links": {"self": f"/v1/networks/{name}"}}


def pool(name: str = "rp1", *, cpu: int | None = 8, memory: int | None = None) -> Json:
    return {"name": name, "cpuLimit": cpu, "memLimitMB": memory, "cpuUsed": 3,
            "memUsedMB": 11244, "cpuFree": None if cpu is None else cpu - 3,
            "memFreeMB": None if memory is None else memory - 11244, "clusters": ["e1"],
            "links": {"self": f"/v1/resourcepools/{name}"}}


# -- network -------------------------------------------------------------------------


def test_network_create_sends_blocks_dns_gateway_and_netmask_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/networks", (201, network()))
    result = run("network", "create", "net1", "--block", "127.73.0.1-127.73.0.9",
                 "--block", " 127.73.1.5 - 127.73.1.5 ", "--dns", "127.0.0.53",
                 "--dns", "127.0.0.54", "--gateway", "127.73.0.254", "--netmask", "16",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/networks") == [{
        "name": "net1", "dns1": "127.0.0.53", "dns2": "127.0.0.54",
        "ipBlocks": [BLOCK, {"beginIp": "127.73.1.5", "endIp": "127.73.1.5"}],
        "gateway": "127.73.0.254", "netmask": "16"}]
    assert "Created network net1 (127.73.0.1-127.73.0.9, 9 addresses)." in result.output


def test_network_create_dhcp_json_prints_the_network_against_fake_api(fake_api, run) -> None:
    created = network("dyn", blocks=[])
    fake_api.add("POST", "/v1/networks", (201, created))
    result = run("network", "create", "dyn", "--dhcp", "--json", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/networks") == [{"name": "dyn", "isDhcp": True}]
    assert json.loads(result.stdout) == created


@pytest.mark.parametrize("bad", ["127.0.0.5", "127.0.0.5-", "-127.0.0.5",
                                 "127.0.0.1-127.0.0.x", "a-b", "127.0.0.1..127.0.0.9",
                                 "127.0.0.1-127.0.0.2-127.0.0.3"])
def test_bad_block_syntax_is_a_usage_error_naming_the_form(fake_api, run, bad) -> None:
    for command in (("network", "create", "n"), ("network", "update", "n")):
        result = run(*command, "--block", bad, "--url", fake_api.url)
        assert result.exit_code == 2, result.output
        assert "BEGIN-END" in result.output
    assert fake_api.requests == []


def test_a_third_dns_server_is_a_usage_error(fake_api, run) -> None:
    result = run("network", "create", "n", "--dhcp", "--dns", "127.0.0.1", "--dns",
                 "127.0.0.2", "--dns", "127.0.0.3", "--url", fake_api.url)
    assert result.exit_code == 2
    assert "at most two DNS servers" in result.output
    assert fake_api.requests == []


def test_network_create_refused_by_the_api_prints_message_field_and_hint_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/networks", (422, fake.error(
        "invalid_spec", "ipBlocks[0]: 10.0.0.1-10.0.0.9 is outside 127.0.0.0/8",
        field="ipBlocks[0]", hint="use addresses inside 127.0.0.0/8")))
    result = run("network", "create", "n", "--block", "10.0.0.1-10.0.0.9",
                 "--url", fake_api.url)
    assert result.exit_code == 1
    assert "Error: ipBlocks[0]: 10.0.0.1-10.0.0.9 is outside 127.0.0.0/8" in result.output
    assert "field: ipBlocks[0]" in result.output
    assert "hint: use addresses inside 127.0.0.0/8" in result.output


def test_network_list_and_show_render_usage_against_fake_api(fake_api, run) -> None:
    builtin = network("defaultNetwork", blocks=[]) | {"builtIn": True}
    used = network(free=8, clusters=["e1"], assigned=[
        {"ipAddress": "127.73.0.1", "cluster": "e1", "node": "e1-etcd-0"}])
    fake_api.add("GET", "/v1/networks", (200, {"networks": [builtin, used]}))
    fake_api.add("GET", "/v1/networks/net1", (200, used))
    listed = run("network", "list", "--url", fake_api.url)
    assert listed.exit_code == 0, listed.output
    for text in ("defaultNetwork", "built in", "net1", "static", "127.73.0.1-127.73.0.9",
                 "8 of 9", "e1"):
        assert text in listed.output
    shown = run("network", "show", "net1", "--url", fake_api.url)
    assert shown.exit_code == 0, shown.output
    for text in ("8 of 9", "127.73.0.2-127.73.0.9", "127.0.0.53", "255.255.0.0",
                 "e1-etcd-0", "Assigned addresses"):
        assert text in shown.output
    as_json = run("network", "list", "--json", "--url", fake_api.url)
    assert json.loads(as_json.stdout) == {"networks": [builtin, used]}
    assert json.loads(run("network", "show", "net1", "--json",
                          "--url", fake_api.url).stdout) == used


def test_network_update_adds_blocks_and_changes_dns_against_fake_api(fake_api, run) -> None:
    added = {"beginIp": "127.73.0.20", "endIp": "127.73.0.29"}
    fake_api.add("PUT", "/v1/networks/net1", (200, network(blocks=[BLOCK, added], free=19)))
    result = run("network", "update", "net1", "--block", "127.73.0.20-127.73.0.29",
                 "--dns", "127.0.0.54", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("PUT", "/v1/networks/net1") == [
        {"dns1": "127.0.0.54", "ipBlocks": [added]}]
    assert "19 addresses free" in result.output


def test_network_delete_and_its_refusal_against_fake_api(fake_api, run) -> None:
    fake_api.add("DELETE", "/v1/networks/net%20two", (204, ""))
    result = run("network", "delete", "net two", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert "Deleted network net two." in result.output
    as_json = run("network", "delete", "net two", "--json", "--url", fake_api.url)
    assert json.loads(as_json.stdout) == {"network": "net two", "deleted": True}
    fake_api.add("DELETE", "/v1/networks/net1", (409, fake.error(
        "conflict", "network 'net1' is used by cluster(s) e1; delete them first",
        field="name")))
    refused = run("network", "delete", "net1", "--url", fake_api.url)
    assert refused.exit_code == 1
    assert "network 'net1' is used by cluster(s) e1" in refused.output


# -- pool ----------------------------------------------------------------------------


def test_pool_create_sends_its_limits_against_fake_api(fake_api, run) -> None:
    fake_api.add("POST", "/v1/resourcepools", (201, pool(memory=16000)))
    result = run("pool", "create", "rp1", "--cpu", "8", "--memory", "16000",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/resourcepools") == [
        {"name": "rp1", "cpuLimit": 8, "memLimitMB": 16000}]
    assert "Created resource pool rp1 (CPUs: 8, memory: 16000 MB)." in result.output
    fake_api.add("POST", "/v1/resourcepools", (201, pool("all", cpu=None)))
    unlimited = run("pool", "create", "all", "--json", "--url", fake_api.url)
    assert unlimited.exit_code == 0, unlimited.output
    assert fake_api.calls("POST", "/v1/resourcepools")[-1] == {"name": "all"}
    assert json.loads(unlimited.stdout)["cpuLimit"] is None


@pytest.mark.parametrize("args", [("--cpu", "0"), ("--cpu", "two"), ("--memory", "-1"),
                                  ("--memory", "4g")])
def test_bad_pool_limits_are_a_usage_error(fake_api, run, args) -> None:
    result = run("pool", "create", "rp1", *args, "--url", fake_api.url)
    assert result.exit_code == 2, result.output
    assert args[0] in result.output
    assert fake_api.requests == []


def test_pool_list_show_and_delete_against_fake_api(fake_api, run) -> None:
    fake_api.add("GET", "/v1/resourcepools", (200, {"resourcePools": [pool()]}))
    fake_api.add("GET", "/v1/resourcepools/rp1", (200, pool()))
    fake_api.add("DELETE", "/v1/resourcepools/rp1", (204, ""))
    listed = run("pool", "list", "--url", fake_api.url)
    assert listed.exit_code == 0, listed.output
    for text in ("rp1", "3 of 8", "11244 MB of unlimited", "e1"):
        assert text in listed.output
    shown = run("pool", "show", "rp1", "--url", fake_api.url)
    assert shown.exit_code == 0, shown.output
    assert "CPUs free" in shown.output and "5" in shown.output
    assert json.loads(run("pool", "list", "--json", "--url", fake_api.url).stdout) == {
        "resourcePools": [pool()]}
    deleted = run("pool", "delete", "rp1", "--url", fake_api.url)
    assert deleted.exit_code == 0 and "Deleted resource pool rp1." in deleted.output


def test_pool_show_of_a_missing_pool_prints_the_404_against_fake_api(fake_api, run) -> None:
    fake_api.add("GET", "/v1/resourcepools/nope", (404, fake.error(
        "not_found", "no resource pool named 'nope'",
        hint="GET /v1/resourcepools lists the resource pools")))
    result = run("pool", "show", "nope", "--url", fake_api.url)
    assert result.exit_code == 1
    assert "Error: no resource pool named 'nope'" in result.output


# -- datastore -----------------------------------------------------------------------


def test_datastore_create_list_and_delete_against_fake_api(fake_api, run) -> None:
    ds = {"name": "ds1", "type": "LOCAL", "spec": ["ssd-.*"], "regex": True,
          "clusters": ["e1"], "links": {"self": "/v1/datastores/ds1"}}
    fake_api.add("POST", "/v1/datastores", (201, ds))
    fake_api.add("GET", "/v1/datastores", (200, {"datastores": [ds]}))
    fake_api.add("DELETE", "/v1/datastores/ds1", (204, ""))
    created = run("datastore", "create", "ds1", "--spec", "ssd-.*", "--type", "LOCAL",
                  "--regex", "--url", fake_api.url)
    assert created.exit_code == 0, created.output
    assert fake_api.calls("POST", "/v1/datastores") == [
        {"name": "ds1", "spec": ["ssd-.*"], "type": "LOCAL", "regex": True}]
    assert "Created datastore ds1 (LOCAL)." in created.output
    listed = run("datastore", "list", "--url", fake_api.url)
    assert listed.exit_code == 0, listed.output
    assert "ssd-.* (patterns)" in listed.output and "e1" in listed.output
    deleted = run("datastore", "delete", "ds1", "--json", "--url", fake_api.url)
    assert json.loads(deleted.stdout) == {"datastore": "ds1", "deleted": True}


def test_datastore_create_without_spec_is_a_usage_error(fake_api, run) -> None:
    result = run("datastore", "create", "ds1", "--url", fake_api.url)
    assert result.exit_code == 2
    assert "--spec" in result.output
    assert fake_api.requests == []


# -- cluster create places the cluster -------------------------------------------------


def test_cluster_create_sends_network_pool_and_datastores_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (202, fake.operation(status="STARTING")))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--network", "net1",
                 "--pool", "rp1", "--datastore", "ds1", "--datastore", "ds2", "--no-wait",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/clusters") == [{
        "name": "zk", "type": "zookeeper", "network": "net1", "resourcePool": "rp1",
        "datastores": ["ds1", "ds2"]}]


def test_cluster_create_refused_by_a_full_pool_says_what_is_left_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (422, fake.error(
        "invalid_spec", "resource pool 'rp1' cannot hold cluster 'zk': it would use 3 CPUs, "
                        "but 1 of its 4 CPUs are left (3 used by other clusters)",
        field="resourcePool")))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--pool", "rp1",
                 "--url", fake_api.url)
    assert result.exit_code == 1
    assert "1 of its 4 CPUs are left" in result.output
    assert "field: resourcePool" in result.output
