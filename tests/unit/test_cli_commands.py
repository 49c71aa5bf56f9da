"""The ndovu commands, run with CliRunner against a fake REST API over real HTTP."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

import tests.fake_api as fake
from ndovu.cli.main import app


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NDOVU_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        return runner.invoke(app, list(args), env=env)

    return invoke


def _serve_create(api: Any, final: dict[str, Any], cluster: dict[str, Any]) -> None:
    api.add("POST", "/v1/clusters", (202, fake.operation(status="STARTING")))
    api.add("GET", "/v1/operations/7",
            (200, fake.operation(progress=40, message="starting zookeeper on 3 nodes")),
            (200, final))
    api.add("GET", "/v1/clusters/zk", (200, cluster))


def test_create_follows_the_operation_and_prints_nodes_and_connect_string_against_fake_api(
        fake_api, run) -> None:
    _serve_create(fake_api, fake.operation(status="COMPLETED", progress=100),
                  fake.cluster())
    result = run("cluster", "create", "zk", "--type", "zookeeper",
                 "--instances", "zookeeper=3", "--instance-type", "zookeeper=SMALL",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/clusters") == [{
        "name": "zk", "type": "zookeeper",
        "nodeGroups": [{"name": "zookeeper", "instanceNum": 3, "instanceType": "SMALL"}]}]
    assert "Cluster 'zk' is running" in result.output
    for index in range(3):
        assert f"zk-zookeeper-{index}" in result.output
        assert f"127.1.0.{index + 1}" in result.output
    assert "SERVICE_READY" in result.output
    assert "zookeeper: 127.1.0.1:2181,127.1.0.2:2181,127.1.0.3:2181" in result.output


def test_create_that_fails_exits_1_naming_the_error_and_nodes_against_fake_api(
        fake_api, run) -> None:
    failed_node = fake.node(2, status="BOOTSTRAP_FAILED", err="port 2181 is in use")
    _serve_create(fake_api, fake.operation(
        status="FAILED", progress=70, error="zookeeper did not start on 1 of 3 nodes",
        fail=["zk-zookeeper-2"]),
        fake.cluster(status="PROVISION_ERROR",
                     nodes=[fake.node(0), fake.node(1), failed_node]))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--url", fake_api.url)
    assert result.exit_code == 1
    assert ("The create of cluster 'zk' failed: zookeeper did not start on 1 of 3 nodes"
            in result.output)
    assert "failed nodes: zk-zookeeper-2" in result.output
    assert "port 2181 is in use" in result.output
    assert "ndovu operation show 7 --events" in result.output


def test_create_json_prints_the_final_operation_against_fake_api(fake_api, run) -> None:
    _serve_create(fake_api, fake.operation(status="COMPLETED", progress=100,
                                           succeed=["zk-zookeeper-0"]), fake.cluster())
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--json", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    op = json.loads(result.stdout)
    assert (op["id"], op["status"], op["succeedNodes"]) == (7, "COMPLETED",
                                                            ["zk-zookeeper-0"])


def test_create_json_of_a_failed_operation_exits_1_against_fake_api(fake_api, run) -> None:
    _serve_create(fake_api, fake.operation(status="FAILED", error="boom"), fake.cluster())
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--json", "--url", fake_api.url)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["errorMessage"] == "boom"


def test_create_no_wait_json_prints_the_accepted_operation_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (202, fake.operation(status="STARTING")))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--no-wait", "--json",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "STARTING"
    assert fake_api.calls("GET", "/v1/operations/7") == []


def test_create_rejected_by_the_api_prints_message_field_and_hint_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (422, fake.error(
        "invalid_spec", "instanceNum 2 is below the minimum 3",
        field="nodeGroups[0].instanceNum", hint="ZooKeeper needs an odd number >= 3")))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--instances", "zookeeper=2",
                 "--url", fake_api.url)
    assert result.exit_code == 1
    assert "Error: instanceNum 2 is below the minimum 3" in result.output
    assert "field: nodeGroups[0].instanceNum" in result.output
    assert "hint: ZooKeeper needs an odd number >= 3" in result.output


@pytest.mark.parametrize("bad", ["zookeeper", "zookeeper=three", "=3", "zookeeper=-1"])
def test_bad_instances_syntax_is_a_usage_error_naming_the_form(fake_api, run, bad) -> None:
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--instances", bad,
                 "--url", fake_api.url)
    assert result.exit_code == 2
    assert "GROUP=N" in result.output
    assert fake_api.requests == []


def test_create_sends_configuration_from_json_and_set_against_fake_api(fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (202, fake.operation(status="STARTING")))
    result = run("cluster", "create", "sp", "-t", "spark", "--no-wait", "--json",
                 "--configuration", '{"spark": {"worker.cores": 2, "worker.memory": "2g"}}',
                 "--set", "spark.worker.cores=3",
                 "--set", "zookeeper.autopurge.purgeInterval=1",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    [body] = fake_api.calls("POST", "/v1/clusters")
    assert body["configuration"] == {
        "spark": {"worker.cores": "3", "worker.memory": "2g"},
        "zookeeper": {"autopurge.purgeInterval": "1"}}


def test_create_sends_a_healing_policy_against_fake_api(fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (202, fake.operation(status="STARTING")))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--no-wait", "--json",
                 "--healing", '{"unhealthyAfter": 60, "maxUnhealthy": 1}',
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    [body] = fake_api.calls("POST", "/v1/clusters")
    assert body["healing"] == {"unhealthyAfter": 60, "maxUnhealthy": 1}


@pytest.mark.parametrize(("args", "words"), [
    (["--healing", "{enabled: false}"], "--healing is not valid JSON"),
    (["--healing", "[1]"], "--healing must be a JSON object"),
    (["--set", "tickTime=3000"], "SECTION.KEY=VALUE"),
    (["--set", "zookeeper.tickTime"], "SECTION.KEY=VALUE"),
    (["--configuration", "{tickTime: 1}"], "not valid JSON"),
    (["--configuration", '{"tickTime": 1}'], "object of sections"),
])
def test_bad_configuration_is_a_usage_error(fake_api, run, args, words) -> None:
    result = run("cluster", "create", "zk", "-t", "zookeeper", *args, "--url", fake_api.url)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert fake_api.requests == []


def test_bad_instance_type_syntax_is_a_usage_error(fake_api, run) -> None:
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--instance-type", "SMALL",
                 "--url", fake_api.url)
    assert result.exit_code == 2
    assert "GROUP=TYPE" in result.output


def test_show_of_a_missing_cluster_prints_the_404_message_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("GET", "/v1/clusters/nope", (404, fake.error(
        "not_found", "cluster 'nope' does not exist", hint="see `ndovu cluster list`")))
    result = run("cluster", "show", "nope", "--url", fake_api.url)
    assert result.exit_code == 1
    assert "Error: cluster 'nope' does not exist" in result.output
    assert "hint: see `ndovu cluster list`" in result.output


def test_show_json_of_a_missing_cluster_prints_the_error_json_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("GET", "/v1/clusters/nope", (404, fake.error(
        "not_found", "cluster 'nope' does not exist")))
    result = run("cluster", "show", "nope", "--json", "--url", fake_api.url)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"error": {
        "code": "not_found", "message": "cluster 'nope' does not exist"}}


def test_unreachable_server_says_how_to_start_one(run, dead_url: str) -> None:
    result = run("cluster", "list", "--url", dead_url)
    assert result.exit_code == 1
    assert f"Error: cannot reach the ndovu server at {dead_url}" in result.output
    assert "start it with `ndovu server`" in result.output


def test_unreachable_server_with_json_prints_an_error_object(run, dead_url: str) -> None:
    result = run("catalog", "list", "--json", env={"NDOVU_URL": dead_url})
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "server_unreachable"


def test_cluster_list_and_show_render_the_cluster_against_fake_api(fake_api, run) -> None:
    summary = {"name": "zk", "type": "zookeeper", "status": "RUNNING", "instanceNum": 3,
               "endpoints": {"zookeeper": "127.1.0.1:2181"}}
    fake_api.add("GET", "/v1/clusters", (200, {"clusters": [summary]}))
    fake_api.add("GET", "/v1/clusters/zk", (200, fake.cluster(
        op=fake.operation(status="COMPLETED", progress=100))))
    listed = run("cluster", "list", env={"NDOVU_URL": fake_api.url})
    assert listed.exit_code == 0, listed.output
    assert "zk" in listed.output and "RUNNING" in listed.output
    shown = run("cluster", "show", "zk", "--url", fake_api.url)
    assert shown.exit_code == 0, shown.output
    for text in ("zookeeper_server", "zk-zookeeper-2", "127.1.0.3", "SERVICE_READY",
                 "127.1.0.1:2181,127.1.0.2:2181", "CREATE #7 of 'zk': COMPLETED 100%"):
        assert text in shown.output
    as_json = run("cluster", "list", "--json", "--url", fake_api.url)
    assert json.loads(as_json.stdout) == {"clusters": [summary]}


def test_delete_follows_the_operation_against_fake_api(fake_api, run) -> None:
    fake_api.add("DELETE", "/v1/clusters/zk",
                 (202, fake.operation(8, "STARTING", op_type="DELETE")))
    fake_api.add("GET", "/v1/operations/8",
                 (200, fake.operation(8, "COMPLETED", 100, op_type="DELETE")))
    result = run("cluster", "delete", "zk", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert "Cluster 'zk' is deleted" in result.output


def test_operation_show_with_events_against_fake_api(fake_api, run) -> None:
    fake_api.add("GET", "/v1/operations/7", (200, fake.operation(
        status="FAILED", error="zookeeper did not start", fail=["zk-zookeeper-2"])))
    event = {"id": 1, "at": "2025-01-01T00:00:01Z", "node": "zk-zookeeper-2",
             "step": "start zookeeper", "outcome": "failed", "durationMs": 1200,
             "message": "exited with code 1"}
    fake_api.add("GET", "/v1/operations/7/events", (200, {"events": [event]}))
    result = run("operation", "show", "7", "--events", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    for text in ("FAILED", "zookeeper did not start", "start zookeeper",
                 "exited with code 1", "1200"):
        assert text in result.output
    as_json = json.loads(run("operation", "show", "7", "--events", "--json",
                             "--url", fake_api.url).stdout)
    assert as_json["status"] == "FAILED" and as_json["events"] == [event]


def test_catalog_list_and_show_against_fake_api(fake_api, run) -> None:
    kind = {"name": "zookeeper", "type": "ZooKeeper Ensemble", "vendor": "Apache",
            "version": "3.8", "description": "A replicated ZooKeeper ensemble.",
            "roles": ["zookeeper_server"],
            "nodeGroups": [{"name": "zookeeper", "roles": ["zookeeper_server"],
                            "instanceNum": {"default": 3, "min": 1, "max": None},
                            "instanceTypes": ["SMALL", "MEDIUM"]}],
            "runsOn": ["local"], "runnableHere": True, "provider": "local",
            "notRunnableReason": None,
            "roleDetails": [{"name": "zookeeper_server", "implemented": True,
                             "summary": "a member", "configSection": "zookeeper",
                             "settings": [{"name": "tickTime", "kind": "int", "default": 2000,
                                           "description": "the basic time unit"}]}]}
    mesos = {"name": "mesos", "type": "Mesos", "roles": ["mesos_master"], "nodeGroups": [],
             "runsOn": [], "runnableHere": False, "provider": "local",
             "notRunnableReason": "it needs the roles mesos_master; no implementation",
             "roleDetails": []}
    fake_api.add("GET", "/v1/catalog/mesos", (200, mesos))
    fake_api.add("GET", "/v1/catalog", (200, {"types": [kind, mesos], "problems": [
        {"path": "/etc/ndovu/catalog/bad.json", "field": "roles", "message": "unknown role"}]}))
    fake_api.add("GET", "/v1/catalog/zookeeper", (200, kind))
    listed = run("catalog", "list", "--url", fake_api.url)
    assert listed.exit_code == 0, listed.output
    assert "ZooKeeper Ensemble" in listed.output
    assert "unknown role" in listed.output
    shown = run("catalog", "show", "zookeeper", "--url", fake_api.url)
    assert shown.exit_code == 0, shown.output
    assert "3 (1..∞)" in shown.output and "SMALL, MEDIUM" in shown.output
    assert "runs on the local provider" in shown.output
    assert "zookeeper.tickTime" in shown.output and "2000" in shown.output
    assert "no provider" in listed.output
    not_here = run("catalog", "show", "mesos", "--url", fake_api.url)
    assert not_here.exit_code == 0, not_here.output
    assert "cannot run on the local provider" in not_here.output
    assert "no implementation" in not_here.output
    assert json.loads(run("catalog", "show", "zookeeper", "--json",
                          "--url", fake_api.url).stdout) == kind


def test_server_passes_only_the_options_given(run, monkeypatch, tmp_path: Path) -> None:
    started: list[Any] = []
    monkeypatch.setitem(sys.modules, "ndovu.server",
                        SimpleNamespace(run=lambda settings: started.append(settings)))
    monkeypatch.setenv("NDOVU_HOST", "127.0.0.9")
    result = run("server", "--port", "9471", "--state-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    [settings] = started
    assert (settings.host, settings.port, settings.state_dir) == ("127.0.0.9", 9471, tmp_path)


def test_no_arguments_shows_help(run) -> None:
    result = run()
    assert "cluster" in result.output and "catalog" in result.output


def test_create_that_outlasts_timeout_names_the_operation_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters", (202, fake.operation(status="STARTING")))
    fake_api.add("GET", "/v1/operations/7", (200, fake.operation(progress=40,
                                                                 message="waiting for quorum")))
    fake_api.add("GET", "/v1/clusters/zk", (200, fake.cluster(status="PROVISIONING")))
    result = run("cluster", "create", "zk", "-t", "zookeeper", "--timeout", "0.2",
                 "--url", fake_api.url)
    assert result.exit_code == 1
    assert "timed out after 0.2 s waiting for operation 7 (CREATE of cluster 'zk')" in (
        result.output)
    assert "ndovu operation show 7" in result.output


def test_server_reports_a_bad_setting_in_one_red_line(run, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ndovu.server", SimpleNamespace(run=lambda s: None))
    monkeypatch.setenv("NDOVU_BOOTSTRAP_TIMEOUT_S", "soon")
    result = run("server")
    assert result.exit_code == 1
    assert "Error: setting 'bootstrap_timeout_s' has an invalid value 'soon'" in result.output
