"""``ndovu cluster stop|start|resize|scale|events``, run with CliRunner against a fake
REST API over real HTTP (tests/fake_api.py)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tests.fake_api as fake
from ndovu.cli.main import app


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("NDOVU_URL", raising=False)
    monkeypatch.delenv("NDOVU_TOKEN", raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def _serve(api, method: str, path: str, op_type: str, cluster: dict) -> None:
    api.add(method, path, (202, fake.operation(9, "STARTING", op_type=op_type)))
    api.add("GET", "/v1/operations/9",
            (200, fake.operation(9, "STARTED", 50, op_type=op_type, message="1/3 nodes")),
            (200, fake.operation(9, "COMPLETED", 100, op_type=op_type)))
    api.add("GET", "/v1/clusters/zk", (200, cluster))


def test_stop_follows_the_operation_and_shows_powered_off_nodes_against_fake_api(
        fake_api, run) -> None:
    stopped = fake.cluster(status="STOPPED",
                           nodes=[fake.node(i, status="POWERED_OFF") for i in range(3)])
    _serve(fake_api, "POST", "/v1/clusters/zk/stop", "STOP", stopped)
    result = run("cluster", "stop", "zk", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("POST", "/v1/clusters/zk/stop") == [None]
    assert "Cluster 'zk' is stopped; its nodes and data are kept" in result.output
    assert result.output.count("POWERED_OFF") == 3


def test_stop_refused_prints_the_reason_and_exits_1_against_fake_api(fake_api, run) -> None:
    fake_api.add("POST", "/v1/clusters/zk/stop", (409, fake.error(
        "conflict", "cluster 'zk' is busy with operation 7 (CREATE, STARTED); it cannot "
        "stop until that operation has finished", hint="follow GET /v1/operations/7")))
    result = run("cluster", "stop", "zk", "--url", fake_api.url)
    assert result.exit_code == 1
    assert "busy with operation 7 (CREATE, STARTED)" in result.output
    assert "hint: follow GET /v1/operations/7" in result.output
    as_json = run("cluster", "stop", "zk", "--json", "--url", fake_api.url)
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "conflict"


def test_start_follows_to_running_and_no_wait_json_returns_at_once_against_fake_api(
        fake_api, run) -> None:
    _serve(fake_api, "POST", "/v1/clusters/zk/start", "START", fake.cluster())
    result = run("cluster", "start", "zk", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert "Cluster 'zk' is running" in result.output and "SERVICE_READY" in result.output
    fake_api.requests.clear()
    accepted = run("cluster", "start", "zk", "--no-wait", "--json", "--url", fake_api.url)
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["type"] == "START"
    assert fake_api.calls("GET", "/v1/operations/9") == []


def test_resize_sends_the_count_and_follows_against_fake_api(fake_api, run) -> None:
    path = "/v1/clusters/zk/nodegroups/etcd/instancenum"
    _serve(fake_api, "PUT", path, "RESIZE", fake.cluster())
    result = run("cluster", "resize", "zk", "etcd=5", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("PUT", path) == [{"instanceNum": 5}]
    assert "Node group 'etcd' of cluster 'zk' has 5 nodes" in result.output


def test_resize_json_prints_the_final_operation_against_fake_api(fake_api, run) -> None:
    _serve(fake_api, "PUT", "/v1/clusters/zk/nodegroups/etcd/instancenum", "RESIZE",
           fake.cluster())
    result = run("cluster", "resize", "zk", "etcd=5", "--json", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    op = json.loads(result.stdout)
    assert (op["type"], op["status"]) == ("RESIZE", "COMPLETED")


@pytest.mark.parametrize("bad", ["etcd", "etcd=five", "=5", "etcd=-1"])
def test_resize_with_a_bad_group_count_is_a_usage_error(fake_api, run, bad: str) -> None:
    result = run("cluster", "resize", "zk", bad, "--url", fake_api.url)
    assert result.exit_code == 2
    assert "GROUP=N" in result.output
    assert fake_api.requests == []


def test_resize_out_of_range_prints_message_field_and_hint_against_fake_api(
        fake_api, run) -> None:
    fake_api.add("PUT", "/v1/clusters/zk/nodegroups/etcd/instancenum", (422, fake.error(
        "invalid_spec", "instanceNum: node group 'etcd' of cluster 'zk' may have at least 1 "
        "and at most 7 nodes (range [1,7]); 9 is outside it", field="instanceNum",
        hint="give a number from 1 to 7")))
    result = run("cluster", "resize", "zk", "etcd=9", "--url", fake_api.url)
    assert result.exit_code == 1
    assert "range [1,7]" in result.output
    assert "field: instanceNum" in result.output
    assert "hint: give a number from 1 to 7" in result.output


def test_scale_sends_cpu_and_memory_against_fake_api(fake_api, run) -> None:
    path = "/v1/clusters/zk/nodegroups/zookeeper/scale"
    _serve(fake_api, "PUT", path, "SCALE", fake.cluster())
    result = run("cluster", "scale", "zk", "zookeeper", "--cpu", "2", "--memory", "4096",
                 "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    assert fake_api.calls("PUT", path) == [{"cpuNum": 2, "memCapacityMB": 4096}]
    assert "is scaled to 2 CPU, 4096 MB" in result.output


def test_scale_on_a_provider_that_cannot_says_why_against_fake_api(fake_api, run) -> None:
    fake_api.add("PUT", "/v1/clusters/zk/nodegroups/zookeeper/scale", (409, fake.error(
        "not_supported", "cannot scale node group 'zookeeper' of cluster 'zk': the local "
        "provider runs each node as processes on this machine; it cannot change a node's "
        "CPU or memory")))
    result = run("cluster", "scale", "zk", "zookeeper", "--memory", "2048",
                 "--url", fake_api.url)
    assert result.exit_code == 1
    assert "cannot change a node's CPU or memory" in result.output
    assert fake_api.calls("PUT", "/v1/clusters/zk/nodegroups/zookeeper/scale") == [
        {"memCapacityMB": 2048}]


@pytest.mark.parametrize("args", [[], ["--cpu", "0"], ["--memory", "lots"]])
def test_scale_without_a_size_is_a_usage_error(fake_api, run, args: list[str]) -> None:
    result = run("cluster", "scale", "zk", "zookeeper", *args, "--url", fake_api.url)
    assert result.exit_code == 2, result.output
    assert fake_api.requests == []


def test_events_shows_the_cluster_log_against_fake_api(fake_api, run) -> None:
    events = [
        {"id": 1, "at": "2025-01-01T00:00:01Z", "operationId": 9, "node": "zk-zookeeper-2",
         "step": "stop zookeeper", "outcome": "ok", "durationMs": 1234, "message": None},
        {"id": 2, "at": "2025-01-01T00:00:02Z", "operationId": 9, "node": "zk-zookeeper-2",
         "step": "power off", "outcome": "failed", "durationMs": 12,
         "message": "power off: disk busy"},
        {"id": 3, "at": "2025-01-01T00:00:03Z", "operationId": 9, "node": None,
         "step": "stop failed", "outcome": "failed", "durationMs": None, "message": "x"},
    ]
    fake_api.add("GET", "/v1/clusters/zk/events?limit=500", (200, {"events": events}))
    result = run("cluster", "events", "zk", "--url", fake_api.url)
    assert result.exit_code == 0, result.output
    for text in ("Time", "Node", "Step", "Outcome", "Duration", "Message",
                 "zk-zookeeper-2", "stop zookeeper", "1.2 s", "12 ms", "power off: disk busy"):
        assert text in result.output, text
    as_json = run("cluster", "events", "zk", "--json", "--url", fake_api.url)
    assert json.loads(as_json.stdout) == {"events": events}


def test_events_of_a_missing_cluster_is_an_error_against_fake_api(fake_api, run) -> None:
    fake_api.add("GET", "/v1/clusters/nope/events?limit=20",
                 (404, fake.error("not_found", "no cluster named 'nope'")))
    result = run("cluster", "events", "nope", "--limit", "20", "--url", fake_api.url)
    assert result.exit_code == 1 and "no cluster named 'nope'" in result.output
