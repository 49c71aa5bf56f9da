"""/metrics' collector against a real store (the database NDOVU_TEST_DATABASE names):
gauges, counters and histogram buckets equal the rows inserted; no cluster or node name
reaches a label; the example alerting rules and dashboard parse and name only metrics the
collector exposes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from ndovu.api.metrics import exposition
from ndovu.store import Store
from ndovu.store.models import Cluster, Event, Node, Operation

pytestmark = pytest.mark.database

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# MariaDB's DATETIME keeps whole seconds: every duration below is a whole number of them
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(store: Store, provider: str = "sim") -> tuple[str, Samples]:
    text = exposition(store, provider).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def _cluster(s: Session, name: str, status: str, nodes: list[str]) -> Cluster:
    cluster = Cluster(name=name, type="zookeeper", plan={}, status=status)
    s.add(cluster)
    s.flush()
    for index, node_status in enumerate(nodes):
        s.add(Node(cluster_id=cluster.id, name=f"{name}-zk-{index}", group_name="zk",
                   index=index, status=node_status))
    return cluster


def _operation(s: Session, cluster: Cluster, op_type: str, status: str,
               took_s: int | None = None, started: bool = True) -> Operation:
    op = Operation(cluster_id=cluster.id, target=cluster.name, type=op_type, status=status,
                   created_at=T0, started_at=T0 if started else None,
                   finished_at=None if took_s is None else T0 + timedelta(seconds=took_s))
    s.add(op)
    s.flush()
    return op


def _event(s: Session, op: Operation, step: str, outcome: str, ms: int | None) -> None:
    s.add(Event(operation_id=op.id, cluster=op.target, node=f"{op.target}-zk-0", step=step,
                outcome=outcome, duration_ms=ms, message="secret-looking text"))


def test_an_empty_store_exposes_every_series_at_zero(store: Store) -> None:
    _, samples = scrape(store)
    assert value(samples, "ndovu_clusters", status="SERVICE_WARNING") == 0
    assert value(samples, "ndovu_nodes", status="SERVICE_READY") == 0
    assert value(samples, "ndovu_operations_total", type="CREATE", status="FAILED") == 0
    assert value(samples, "ndovu_operation_duration_seconds_count", type="CREATE") == 0
    assert value(samples, "ndovu_provider_calls_total", provider="sim", verb="ensure_node",
                 outcome="failed") == 0
    assert value(samples, "ndovu_engine_failed_passes_total") == 0


def test_the_metrics_are_the_stores_aggregates(store: Store) -> None:
    with store.session() as s:
        alpha = _cluster(s, "tenant-alpha", "RUNNING",
                         ["SERVICE_READY", "SERVICE_READY", "SERVICE_UNHEALTHY"])
        beta = _cluster(s, "tenant-beta", "RUNNING", ["SERVICE_READY"])
        gamma = _cluster(s, "tenant-gamma", "PROVISION_ERROR", ["BOOTSTRAP_FAILED", "VM_READY"])
        create = _operation(s, alpha, "CREATE", "COMPLETED", 1)  # on a bucket's bound: in it
        _operation(s, beta, "CREATE", "COMPLETED", 3)
        _operation(s, alpha, "STOP", "COMPLETED", 100)
        failed = _operation(s, gamma, "CREATE", "FAILED", 2000)  # above every bound
        _operation(s, gamma, "DELETE", "ABANDONED", None, started=False)  # never started
        _operation(s, alpha, "START", "STARTED")
        _operation(s, beta, "DELETE", "STARTING", started=False)
        for step, outcome, ms in [
                ("provision", "ok", 30), ("provision", "ok", 70),
                ("provision", "retrying", 2000), ("provision", "failed", 6000),
                ("power on", "ok", 400),
                ("power on", "ok", None),  # found done after a restart: not a call
                ("delete node", "ok", 100), ("remove node", "failed", 200),
                ("power off", "ok", 50),
                ("start zookeeper", "ok", 5000),  # a role's step, not the provider's
                ("reconcile pass", "failed", None), ("reconcile pass", "failed", None),
                ("engine takeover", "ok", None)]:
            _event(s, failed if outcome == "failed" else create, step, outcome, ms)

    text, samples = scrape(store, "openstack")
    clusters = {dict(labels)["status"]: v for (name, labels), v in samples.items()
                if name == "ndovu_clusters"}
    assert {k: v for k, v in clusters.items() if v} == {"RUNNING": 2, "PROVISION_ERROR": 1}
    nodes = {dict(labels)["status"]: v for (name, labels), v in samples.items()
             if name == "ndovu_nodes"}
    assert {k: v for k, v in nodes.items() if v} == {
        "SERVICE_READY": 3, "SERVICE_UNHEALTHY": 1, "BOOTSTRAP_FAILED": 1, "VM_READY": 1}

    ops = "ndovu_operations_total"
    assert value(samples, ops, type="CREATE", status="COMPLETED") == 2
    assert value(samples, ops, type="CREATE", status="FAILED") == 1
    assert value(samples, ops, type="STOP", status="COMPLETED") == 1
    assert value(samples, ops, type="DELETE", status="ABANDONED") == 1
    assert value(samples, "ndovu_operations_active", type="START", status="STARTED") == 1
    assert value(samples, "ndovu_operations_active", type="DELETE", status="STARTING") == 1
    assert sum(v for (name, _), v in samples.items()
               if name in (ops, "ndovu_operations_active")) == 7

    hist = "ndovu_operation_duration_seconds"
    create_buckets = {dict(labels)["le"]: v for (name, labels), v in samples.items()
                      if name == f"{hist}_bucket" and dict(labels)["type"] == "CREATE"}
    assert create_buckets == {"1.0": 1, "5.0": 2, "15.0": 2, "30.0": 2, "60.0": 2, "120.0": 2,
                              "300.0": 2, "600.0": 2, "1800.0": 2, "+Inf": 3}
    assert value(samples, f"{hist}_count", type="CREATE") == 3
    assert value(samples, f"{hist}_sum", type="CREATE") == pytest.approx(2004)
    assert value(samples, f"{hist}_bucket", type="STOP", le="60.0") == 0
    assert value(samples, f"{hist}_bucket", type="STOP", le="120.0") == 1
    # an operation never started has no duration
    assert value(samples, f"{hist}_count", type="DELETE") == 0

    calls = "ndovu_provider_calls_total"
    on = {"provider": "openstack"}
    assert value(samples, calls, verb="ensure_node", outcome="ok", **on) == 2
    assert value(samples, calls, verb="ensure_node", outcome="retrying", **on) == 1
    assert value(samples, calls, verb="ensure_node", outcome="failed", **on) == 1
    assert value(samples, calls, verb="power_on", outcome="ok", **on) == 1
    assert value(samples, calls, verb="delete_node", outcome="ok", **on) == 1
    assert value(samples, calls, verb="delete_node", outcome="failed", **on) == 1
    assert value(samples, calls, verb="power_off", outcome="ok", **on) == 1
    assert sum(v for (name, _), v in samples.items() if name == calls) == 8

    took = "ndovu_provider_call_duration_seconds"
    ensure = {dict(labels)["le"]: v for (name, labels), v in samples.items()
              if name == f"{took}_bucket" and dict(labels)["verb"] == "ensure_node"}
    assert ensure == {"0.05": 1, "0.1": 2, "0.5": 2, "1.0": 2, "5.0": 3, "15.0": 4,
                      "30.0": 4, "60.0": 4, "300.0": 4, "+Inf": 4}
    assert value(samples, f"{took}_sum", verb="ensure_node", **on) == pytest.approx(8.1)
    assert value(samples, f"{took}_count", verb="delete_node", **on) == 2
    assert value(samples, f"{took}_sum", verb="delete_node", **on) == pytest.approx(0.3)

    assert value(samples, "ndovu_engine_failed_passes_total") == 2
    assert value(samples, "ndovu_engine_takeovers_total") == 1

    # aggregates only: no cluster or node name, no event message in any label or line
    for secret in ("tenant-", "zk-0", "secret-looking", "zookeeper"):
        assert secret not in text


def _example_metric_names() -> set[str]:
    alerts = yaml.safe_load((EXAMPLES / "prometheus" / "ndovu-alerts.yml").read_text())
    expressions = [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    assert expressions and all(rule.get("alert") and rule.get("annotations")
                               for group in alerts["groups"] for rule in group["rules"])
    dashboard = json.loads((EXAMPLES / "grafana" / "ndovu-dashboard.json").read_text())
    targets = [target["expr"] for panel in dashboard["panels"]
               for target in panel.get("targets", [])]
    assert targets, "the dashboard's panels query something"
    return set(re.findall(r"\bndovu_[a-z_]+", " ".join(expressions + targets)))


def test_the_examples_parse_and_use_only_exposed_metrics(store: Store) -> None:
    _, samples = scrape(store)
    exposed = {name for name, _ in samples}
    used = _example_metric_names()
    assert used and used <= exposed, sorted(used - exposed)
