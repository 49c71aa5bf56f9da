"""How long this engine's passes take: Prometheus histograms kept in the process.

Everything else ndovu exposes is aggregated from the store (ndovu.api.metrics), so any
API process tells the truth for all engines. Pass durations are the exception: they are
a property of one engine process and are never written down (a look that finds nothing
new writes nothing, by design). The server that runs its engine in-process adds these
to its ``/metrics``; ``ndovu engine --metrics-port`` serves them on a port of its own.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

# a look probes every node of one cluster in parallel: milliseconds on the sim provider,
# seconds over SSH; a reconcile pass returns as soon as it would wait
PASS_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PassTimes:
    """The histograms of one engine, on a registry of their own (several engines in one
    process, as in the tests, do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reconcile = Histogram(
            "ndovu_engine_pass_duration_seconds",
            "Duration of this engine's reconcile passes (one cluster's operation moved on "
            "until it would wait)", buckets=PASS_BUCKETS_S, registry=self.registry)
        self.observe = Histogram(
            "ndovu_observe_pass_duration_seconds",
            "Duration of this engine's looks at clusters at rest (provider view and every "
            "node's health probes)", buckets=PASS_BUCKETS_S, registry=self.registry)
