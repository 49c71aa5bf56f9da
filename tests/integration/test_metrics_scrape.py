"""/metrics of a real `ndovu server` on the sim provider: two clusters made, one stopped;
the scrape parses with prometheus_client's parser, needs no login, names no cluster, and
its gauges and counters match what /v1 reports; the in-process engine's reconcile passes
and looks at the running cluster are timed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import Server, wait_until

pytestmark = pytest.mark.integration

SIM = {"boot_latency_s": 0.05, "api_latency_s": 0.001}
CLUSTERS = {"metrics_one": 3, "metrics_two": 2}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "state", subnet="127.97.0.0/16",
                    args=("--provider", "sim"),
                    env={"NDOVU_PROVIDER_OPTIONS": json.dumps(SIM),
                         "NDOVU_OBSERVE_INTERVAL_S": "0.2"})
    server.start()
    yield server
    server.stop()


def _follow(c: httpx.Client, op_id: int) -> None:
    def ended() -> bool:
        status = c.get(f"/v1/operations/{op_id}").json()["status"]
        assert status != "FAILED", c.get(f"/v1/operations/{op_id}").json()
        return status == "COMPLETED"

    wait_until(ended, timeout=60, what=f"operation {op_id} COMPLETED", interval=0.1)


def _scrape(server: Server) -> tuple[str, dict[str, list[tuple[dict[str, str], float]]]]:
    r = httpx.get(f"{server.url}/metrics", timeout=30)  # no Authorization header
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return r.text, samples


def _by(samples: list[tuple[dict[str, str], float]], *keys: str) -> Counter[tuple[str, ...]]:
    """Non-zero sample values summed by these labels."""
    found: Counter[tuple[str, ...]] = Counter()
    for labels, value in samples:
        if value:
            found[tuple(labels[k] for k in keys)] += int(value)
    return found


def test_metrics_match_the_api(server: Server) -> None:
    with server.client() as c:
        for name, nodes in CLUSTERS.items():
            r = c.post("/v1/clusters", json={
                "name": name, "type": "sim",
                "nodeGroups": [{"name": "sim", "instanceNum": nodes}]})
            assert r.status_code == 202, r.text
            _follow(c, r.json()["id"])
        r = c.post("/v1/clusters/metrics_two/stop")
        assert r.status_code == 202, r.text
        _follow(c, r.json()["id"])

        text, samples = _scrape(server)
        clusters = c.get("/v1/clusters").json()["clusters"]
        nodes = [node for cluster in clusters
                 for group in c.get(f"/v1/clusters/{cluster['name']}").json()["nodeGroups"]
                 for node in group["instances"]]
        operations = c.get("/v1/operations").json()["operations"]

    assert _by(samples["ndovu_clusters"], "status") == Counter(
        (cluster["status"],) for cluster in clusters) == {("RUNNING",): 1, ("STOPPED",): 1}
    assert _by(samples["ndovu_nodes"], "status") == Counter(
        (node["status"],) for node in nodes) == {("SERVICE_READY",): 3, ("POWERED_OFF",): 2}
    ended = _by(samples["ndovu_operations_total"], "type", "status")
    assert ended == Counter((op["type"], op["status"]) for op in operations) == {
        ("CREATE", "COMPLETED"): 2, ("STOP", "COMPLETED"): 1}
    assert not _by(samples["ndovu_operations_active"], "type", "status")
    assert _by(samples["ndovu_operation_duration_seconds_count"], "type") == {
        ("CREATE",): 2, ("STOP",): 1}
    # every node made once, the stopped cluster's nodes powered off once each
    assert _by(samples["ndovu_provider_calls_total"], "provider", "verb", "outcome") == {
        ("sim", "ensure_node", "ok"): 5, ("sim", "power_off", "ok"): 2}
    assert _by(samples["ndovu_provider_call_duration_seconds_count"], "verb") == {
        ("ensure_node",): 5, ("power_off",): 2}
    for name in CLUSTERS:
        assert name not in text

    # passes: at least one per operation; looks at the running cluster, five a second
    passes = samples["ndovu_engine_pass_duration_seconds_count"][0][1]
    assert passes >= len(operations)
    assert [v for labels, v in samples["ndovu_engine_pass_duration_seconds_bucket"]
            if labels["le"] == "+Inf"] == [passes]
    wait_until(lambda: _scrape(server)[1]["ndovu_observe_pass_duration_seconds_count"][0][1]
               >= 3, timeout=30, what="three looks timed")
