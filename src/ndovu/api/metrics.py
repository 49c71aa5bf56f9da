"""Prometheus metrics, computed from the store when they are scraped.

Nothing in the engine counts anything: several engines may share one database, so any
API process answers a scrape with the truth by aggregating the tables (GROUP BY and a
CASE per histogram bucket, in the database: a scrape gets a few dozen rows back whatever
the history's size). Labels carry only ndovu's own vocabulary (statuses, operation types,
provider verbs, outcomes) and the server's provider name: never a cluster, node, user
or project name, so ``/metrics`` needs no login (README, "Metrics").

Counters are totals over the operations and events tables, which ndovu never prunes;
they only grow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import Connection, Float, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from ndovu.statuses import (
    TERMINAL_TASK_STATUSES,
    ClusterStatus,
    NodeStatus,
    OperationType,
    TaskStatus,
)
from ndovu.store.db import Store
from ndovu.store.models import Cluster, Event, Node, Operation

# the text format Prometheus scrapes (0.0.4: every Prometheus since 2.0 reads it)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# cluster operations take seconds to half an hour
OPERATION_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800)
# one provider call: milliseconds on the sim provider, minutes for a VM clone
PROVIDER_BUCKETS_S = (0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300)

# the engine's event steps that are one provider call each (ndovu.engine.reconciler,
# ProviderCall and _decommission_node), by the Provider verb they call; every such event
# carries the call's duration. "power on" and "delete node" events without a duration
# record a step found done at the provider after a restart, not a call.
PROVIDER_STEPS = {
    "provision": "ensure_node",
    "power on": "power_on",
    "power off": "power_off",
    "delete node": "delete_node",
    "remove node": "delete_node",
    "scale node": "scale_node",
}
# events the engine's runner writes (ndovu.engine.runner): a pass that raised, a cluster
# taken over from an engine whose lease expired
FAILED_PASS_STEP = "reconcile pass"
TAKEOVER_STEP = "engine takeover"


class seconds_between(FunctionElement[float]):  # lower case: used like a SQL function
    """``end - start`` in seconds, in each database's own date arithmetic."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


def _ends(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = element.clauses.clauses
    return compiler.process(start, **kw), compiler.process(end, **kw)


@compiles(seconds_between)  # SQLite: datetimes are ISO text
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _ends(element, compiler, **kw)
    # rounded to the millisecond: a julianday double is ~10 µs coarse at this epoch
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _ends(element, compiler, **kw)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _seconds_mysql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _ends(element, compiler, **kw)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


def _buckets(value: ColumnElement[Any], bounds: Iterable[float]) -> list[ColumnElement[Any]]:
    """One SUM per bucket: how many rows have ``value`` at most the bound (cumulative, as
    Prometheus' ``le`` buckets are)."""
    return [func.sum(case((value <= bound, 1), else_=0)) for bound in bounds]


class _Histogram:
    """Bucket counts, count and sum of one label set, added up from several rows."""

    def __init__(self, bounds: Sequence[float]):
        self.bounds = bounds
        self.buckets = [0] * len(bounds)
        self.count = 0
        self.sum = 0.0

    def add(self, count: Any, total: Any, buckets: Sequence[Any]) -> None:
        self.count += int(count or 0)
        self.sum += float(total or 0)
        self.buckets = [have + int(more or 0) for have, more in zip(self.buckets, buckets,
                                                                    strict=True)]

    def exposed(self) -> list[tuple[str, float]]:
        return [*((str(float(b)), float(n)) for b, n in zip(self.bounds, self.buckets,
                                                            strict=True)),
                ("+Inf", float(self.count))]


class StoreCollector:
    """A prometheus_client collector that reads the store on every ``collect()``."""

    def __init__(self, store: Store, provider: str):
        self.store = store
        self.provider = provider

    def collect(self) -> Iterator[Metric]:
        with self.store.engine.connect() as conn:
            yield from self._clusters_and_nodes(conn)
            yield from self._operations(conn)
            yield from self._events(conn)

    def _clusters_and_nodes(self, conn: Connection) -> Iterator[Metric]:
        for name, model, known, what in (
                ("ndovu_clusters", Cluster, ClusterStatus, "Clusters"),
                ("ndovu_nodes", Node, NodeStatus, "Nodes")):
            counts = dict.fromkeys(known, 0) | dict(conn.execute(
                select(model.status, func.count()).group_by(model.status)).all())
            gauge = GaugeMetricFamily(name, f"{what} by status (BDE's statuses)",
                                      labels=["status"])
            for status, count in sorted(counts.items()):
                gauge.add_metric([str(status)], count)
            yield gauge

    def _operations(self, conn: Connection) -> Iterator[Metric]:
        counts = {(str(t), str(s)): 0 for t in OperationType for s in TaskStatus}
        counts |= dict(((t, s), n) for t, s, n in conn.execute(
            select(Operation.type, Operation.status, func.count())
            .group_by(Operation.type, Operation.status)))
        finished = CounterMetricFamily(
            "ndovu_operations", "Operations that ended, by type and how they ended",
            labels=["type", "status"])
        active = GaugeMetricFamily(
            "ndovu_operations_active", "Operations not ended yet: STARTING (waiting for an "
            "engine) or STARTED", labels=["type", "status"])
        for (op_type, status), count in sorted(counts.items()):
            family = finished if status in TERMINAL_TASK_STATUSES else active
            family.add_metric([op_type, status], count)
        yield finished
        yield active

        took = (select(Operation.type.label("type"),
                       seconds_between(Operation.started_at, Operation.finished_at)
                       .label("seconds"))
                .where(Operation.started_at.is_not(None), Operation.finished_at.is_not(None))
                .cte("took")
                # each duration computed once, not once per bucket: SQLite and PostgreSQL
                # would otherwise put the expression into every CASE (5x slower on SQLite)
                .prefix_with("MATERIALIZED", dialect="sqlite")
                .prefix_with("MATERIALIZED", dialect="postgresql"))
        histograms = {str(t): _Histogram(OPERATION_BUCKETS_S) for t in OperationType}
        for op_type, count, total, *buckets in conn.execute(
                select(took.c.type, func.count(), func.sum(took.c.seconds),
                       *_buckets(took.c.seconds, OPERATION_BUCKETS_S))
                .group_by(took.c.type)):
            histograms.setdefault(op_type, _Histogram(OPERATION_BUCKETS_S)).add(
                count, total, buckets)
        durations = HistogramMetricFamily(
            "ndovu_operation_duration_seconds",
            "Time from an engine taking an operation up to its end, by type",
            labels=["type"])
        for op_type, histogram in sorted(histograms.items()):
            durations.add_metric([op_type], histogram.exposed(), histogram.sum)
        yield durations

    def _events(self, conn: Connection) -> Iterator[Metric]:
        """Provider calls and engine passes, from one scan of the events table."""
        bounds_ms = [round(b * 1000) for b in PROVIDER_BUCKETS_S]
        rows = conn.execute(
            select(Event.step, Event.outcome, func.count(), func.count(Event.duration_ms),
                   func.sum(Event.duration_ms), *_buckets(Event.duration_ms, bounds_ms))
            .where(Event.step.in_([*PROVIDER_STEPS, FAILED_PASS_STEP, TAKEOVER_STEP]))
            .group_by(Event.step, Event.outcome)).all()
        calls = {(verb, outcome): 0 for verb in sorted(set(PROVIDER_STEPS.values()))
                 for outcome in ("ok", "retrying", "failed")}
        histograms = {verb: _Histogram(PROVIDER_BUCKETS_S) for verb, _ in calls}
        failed_passes = takeovers = 0
        for step, outcome, events, timed, total_ms, *buckets in rows:
            if step == FAILED_PASS_STEP:
                failed_passes += int(events) if outcome == "failed" else 0
            elif step == TAKEOVER_STEP:
                takeovers += int(events)
            elif timed:
                verb = PROVIDER_STEPS[step]
                calls[verb, outcome] = calls.get((verb, outcome), 0) + int(timed)
                histograms[verb].add(timed, float(total_ms or 0) / 1000, buckets)
        counter = CounterMetricFamily(
            "ndovu_provider_calls", "Provider calls by verb and outcome (ok; retrying: "
            "failed, tried again; failed: failed for good)",
            labels=["provider", "verb", "outcome"])
        for (verb, outcome), count in sorted(calls.items()):
            counter.add_metric([self.provider, verb, outcome], count)
        yield counter
        durations = HistogramMetricFamily(
            "ndovu_provider_call_duration_seconds", "Duration of provider calls, by verb",
            labels=["provider", "verb"])
        for verb, histogram in sorted(histograms.items()):
            durations.add_metric([self.provider, verb], histogram.exposed(), histogram.sum)
        yield durations
        yield CounterMetricFamily("ndovu_engine_failed_passes",
                                  "Reconcile passes that raised (the pass is tried again)",
                                  value=failed_passes)
        yield CounterMetricFamily("ndovu_engine_takeovers",
                                  "Clusters an engine took over from one whose lease expired",
                                  value=takeovers)


def exposition(store: Store, provider: str,
               in_process: CollectorRegistry | None = None) -> bytes:
    """The metrics in Prometheus' text format, on a registry of their own (not the
    process-wide default one: several apps in one process do not clash), followed by
    ``in_process``: the pass durations of the engine running in this process, if any."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, provider))
    text = generate_latest(registry)
    return text + generate_latest(in_process) if in_process is not None else text
