"""The engine process loop: find clusters with work, run one pass per cluster at a time.

Passes for different clusters run in parallel on a small pool; node work inside a pass
runs on a node pool bounded by the provider's concurrency limit. A pass returns when to
look again, so waiting for software never blocks a worker.

Several engines may share one database: before its first pass on a cluster an engine
claims the cluster's lease (ndovu.engine.leases), renews it from a heartbeat thread while
the cluster has work, and gives it up when the work is done or the engine stops. A
cluster whose engine died is claimed by another once the lease expires.

Clusters at rest are watched (ndovu.engine.observer): each is looked at once an
interval, at an offset of its own so that many clusters are not looked at together, by
whichever engine claims its lease for the look.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select

from ndovu.engine import failpoints, journal
from ndovu.engine.leases import Claim, Leases, current_engine
from ndovu.engine.observer import WATCHED, Observer
from ndovu.engine.pass_times import PassTimes
from ndovu.engine.planner import check_spec_configuration, role_support, validate_plan
from ndovu.engine.reconciler import Reconciler
from ndovu.providers.base import Provider
from ndovu.roles.base import Role
from ndovu.spec.model import ClusterPlan, ClusterSpec
from ndovu.statuses import Desired, TaskStatus
from ndovu.store.db import Store
from ndovu.store.models import Cluster, Operation

log = logging.getLogger("ndovu.engine")

# seconds between looks at the store when nobody wakes the loop
IDLE_POLL_S = 0.5
# the loop's shortest sleep: each look at the store costs a query, so passes due within
# this of each other are dispatched together (a pass due sooner runs now, not a sleep late)
MIN_SLEEP_S = 0.02
# back-off after a pass raised something unexpected
ERROR_BACKOFF_S = 2.0
# how long a lease lasts unless renewed; the holder renews it every third of that
LEASE_TTL_S = 15.0
# how often the list of clusters to watch is read again (at most)
WATCH_SCAN_S = 5.0
# an irrational step: the clusters' offsets in the interval spread evenly whatever their ids
_SPREAD = 0.6180339887498949


def observe_offset(cluster_id: int, interval_s: float) -> float:
    """When in each interval the cluster is looked at: spread evenly over the interval."""
    return interval_s * ((cluster_id * _SPREAD) % 1.0)


def default_engine_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Engine:
    def __init__(self, store: Store, provider: Provider, roles: Mapping[str, Role], *,
                 bootstrap_timeout_s: float = 600.0, cluster_workers: int = 8,
                 name: str | None = None, lease_ttl_s: float = LEASE_TTL_S,
                 depot_url: str = "", observe_interval_s: float = 0.0):
        self.name = name or default_engine_name()
        self.cluster_workers = cluster_workers
        self.store = store
        self.provider = provider
        self.roles = roles
        self._cluster_pool = ThreadPoolExecutor(cluster_workers, thread_name_prefix="cluster")
        # looks at clusters at rest have workers of their own: they never hold up an
        # operation, nor an operation them
        self._look_pool = ThreadPoolExecutor(cluster_workers, thread_name_prefix="look")
        self._node_pool = ThreadPoolExecutor(max(1, provider.max_parallel),
                                             thread_name_prefix="node")
        self.reconciler = Reconciler(store, provider, roles, self._node_pool,
                                     bootstrap_timeout_s=bootstrap_timeout_s,
                                     depot_url=depot_url)
        # 0: clusters at rest are not watched
        self.observe_interval_s = observe_interval_s
        self.observer = Observer(store, provider, roles, self._node_pool,
                                 self.reconciler.role_context)
        # when each watched cluster is looked at next (monotonic clock)
        self._next_observe: dict[int, float] = {}
        self._observing: set[int] = set()
        # looked at, lease not given back yet: released together on the next dispatch
        self._looked: set[int] = set()
        self._looks_waiting = False
        self._watch_scanned = float("-inf")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._busy: set[int] = set()
        self._next_run: dict[int, float] = {}
        # clusters whose lease this engine holds
        self._held: set[int] = set()
        self.leases = Leases(store, self.name, lease_ttl_s)
        self.pass_times = PassTimes()
        self._thread: threading.Thread | None = None
        self._heartbeat: threading.Thread | None = None

    def validate_plan(self, plan: ClusterPlan) -> None:
        """Refuse up front what this engine cannot run (unknown or unsupported roles,
        configuration no role understands)."""
        validate_plan(plan, self.roles, self.provider.name, self.provider.runs_software)

    def check_spec_configuration(self, spec: ClusterSpec) -> None:
        """Raise SpecError for configuration in a catalog spec that no role understands."""
        check_spec_configuration(spec, self.roles)

    def role_support(self, role_names: Sequence[str],
                     providers: Mapping[str, bool]) -> dict[str, Any]:
        """For the catalog: where a type with these roles runs (of ``providers``: name ->
        whether its machines run real software) and why not here."""
        return role_support(role_names, self.roles, self.provider.name, providers)

    def start(self) -> None:
        failpoints.install_from_environment()
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()
        self._heartbeat = threading.Thread(target=self._renew_leases, name="engine-leases",
                                           daemon=True)
        self._heartbeat.start()
        log.info("engine %s started (provider %s, %d node workers)", self.name,
                 self.provider.name, self.provider.max_parallel)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        # in-flight passes finish their current step; the next engine picks up the rest
        self._cluster_pool.shutdown(wait=True, cancel_futures=True)
        self._look_pool.shutdown(wait=True, cancel_futures=True)
        self._node_pool.shutdown(wait=True, cancel_futures=True)
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)
        try:  # hand the clusters over at once instead of when the leases expire
            self.leases.release()
        except Exception:
            log.exception("cannot release engine %s's leases; they expire by themselves",
                          self.name)

    def _renew_leases(self) -> None:
        """Heartbeat: keep the leases of the clusters this engine works on."""
        while not self._stopping.wait(self.leases.ttl_s / 3):
            with self._lock:
                held = set(self._held)
                looking = set(self._observing)
            try:
                kept = self.leases.renew(held | looking) - looking
            except Exception:
                log.exception("cannot renew leases; retrying")
                continue
            lost = held - kept
            if lost:
                # another engine took them (we were stalled past the lease): let it work
                log.warning("engine %s lost the leases of clusters %s", self.name,
                            sorted(lost))
                with self._lock:
                    self._held -= lost

    def _loop(self) -> None:
        while not self._stopping.is_set():
            timeout = IDLE_POLL_S
            try:
                timeout = self._dispatch()
            except Exception:
                log.exception("engine loop: cannot read pending work; retrying")
                self._stopping.wait(ERROR_BACKOFF_S)
            self._wake.wait(timeout)
            self._wake.clear()

    def _dispatch(self) -> float:
        """Submit the clusters whose next pass is due; return how long the loop may sleep."""
        with self.store.session() as s:
            rows = s.execute(
                select(Operation.cluster_id, Cluster.lease_holder, Cluster.lease_expires)
                .join(Cluster, Cluster.id == Operation.cluster_id)
                .where(Operation.status.in_([TaskStatus.STARTING, TaskStatus.STARTED]))).all()
        cluster_ids = {r.cluster_id for r in rows}
        # another engine's while its lease lasts: not tried, so that the clusters this
        # engine has room for are ones it can get (trying the same lowest ids again and
        # again left a second engine idle while the first one did everything)
        wall = time.time()
        others = {r.cluster_id for r in rows if r.lease_holder not in (None, self.name)
                  and (r.lease_expires or 0.0) >= wall}
        now = time.monotonic()
        with self._lock:
            # clusters whose work ended (or went away) outside a pass of ours
            finished = {c for c in self._held | set(self._next_run)
                        if c not in cluster_ids and c not in self._busy}
            self._held -= finished
            for c in finished:
                self._next_run.pop(c, None)
            idle = [c for c in cluster_ids if c not in self._busy]
            due = [c for c in idle if self._next_run.get(c, 0.0) <= now + MIN_SLEEP_S]
            later = [self._next_run[c] - now for c in idle if c not in due]
            # no more clusters than this engine has workers for: the rest are left for
            # other engines (or for later), so several engines share the work
            room = max(0, self.cluster_workers - len(self._held))
            unclaimed = sorted(c for c in due if c not in self._held and c not in others)[:room]
        self.leases.release(finished)
        claims = self.leases.claim(unclaimed)
        self._record_takeovers([c for c in claims if c.took_over_from])
        with self._lock:
            self._held.update(c.cluster_id for c in claims)
            # the rest are another engine's; look again later
            due = [c for c in due if c in self._held]
            self._busy.update(due)
        for cluster_id in due:
            if self._stopping.is_set():
                break
            self._cluster_pool.submit(self._run_pass, cluster_id)
        if self.observe_interval_s > 0:
            self._dispatch_looks(now, cluster_ids)
        return max(MIN_SLEEP_S, min([IDLE_POLL_S, *later]))

    def _dispatch_looks(self, now: float, with_work: set[int]) -> None:
        """Submit the looks at clusters at rest that are due (ndovu.engine.observer), as
        many as the look workers take."""
        interval = self.observe_interval_s
        with self._lock:
            # one write for every look that ended; not the leases an operation now holds
            done, self._looked = self._looked - self._held, set()
        self.leases.release(done)
        if now - self._watch_scanned >= min(WATCH_SCAN_S, interval):
            with self.store.session() as s:
                watched = set(s.scalars(select(Cluster.id).where(
                    Cluster.desired == Desired.RUNNING, Cluster.status.in_(WATCHED))))
            self._watch_scanned = now
            with self._lock:
                for gone in set(self._next_observe) - watched:
                    del self._next_observe[gone]
                for new in watched - set(self._next_observe):
                    self._next_observe[new] = now + observe_offset(new, interval)
        with self._lock:
            room = max(0, self.cluster_workers - len(self._observing))
            due = sorted((at, c) for c, at in self._next_observe.items()
                         if at <= now and c not in self._busy and c not in with_work)
            due_ids = [c for _, c in due[:room]]
            # more looks are due than may run at once: each ending look wakes the loop
            self._looks_waiting = len(due) > room
        if not due_ids:
            return
        claimed = {c.cluster_id for c in self.leases.claim(due_ids)}
        with self._lock:
            for cluster_id in due_ids:
                if cluster_id not in claimed:  # another engine works on it or looks
                    self._next_observe[cluster_id] = now + interval
            self._busy.update(claimed)
            self._observing.update(claimed)
        for cluster_id in claimed:
            self._look_pool.submit(self._run_look, cluster_id)

    def _run_look(self, cluster_id: int) -> None:
        current_engine.set(self.name)
        try:
            with self.pass_times.observe.time():
                self.observer.observe(cluster_id)
        except Exception:
            log.exception("looking at cluster %s raised; looking again next interval",
                          cluster_id)
        finally:
            # the lease goes back with the other looks' on the next dispatch; the loop is
            # woken only when looks wait for a worker
            with self._lock:
                self._looked.add(cluster_id)
                self._busy.discard(cluster_id)
                self._observing.discard(cluster_id)
                if cluster_id in self._next_observe:
                    self._next_observe[cluster_id] = (time.monotonic()
                                                      + self.observe_interval_s)
                waiting = self._looks_waiting
            if waiting:
                self._wake.set()

    def _run_pass(self, cluster_id: int) -> None:
        delay: float | None
        current_engine.set(self.name)
        try:
            with self.pass_times.reconcile.time():
                delay = self.reconciler.reconcile(cluster_id)
        except Exception as exc:
            log.exception("reconcile pass for cluster %s raised", cluster_id)
            self._record_crash(cluster_id, exc)
            delay = ERROR_BACKOFF_S
        if delay is None:  # nothing more to do: let any engine take the next request
            try:
                self.leases.release([cluster_id])
            except Exception:
                log.exception("cannot release the lease of cluster %s", cluster_id)
        with self._lock:
            self._busy.discard(cluster_id)
            self._next_run[cluster_id] = time.monotonic() + (delay or 0.0)
            if delay is None:
                self._held.discard(cluster_id)
        # the loop recomputes its sleep from _next_run
        self._wake.set()

    def _record_takeovers(self, claims: list[Claim]) -> None:
        token = current_engine.set(self.name)
        try:
            with self.store.session() as s:
                for claim in claims:
                    op = journal.active_operation(s, claim.cluster_id)
                    journal.event(s, op, claim.cluster, "engine takeover", "ok",
                                  message=f"engine {self.name} took over from "
                                          f"{claim.took_over_from}, whose lease expired")
                    log.warning("engine %s took cluster %s over from %s", self.name,
                                claim.cluster, claim.took_over_from)
        finally:
            current_engine.reset(token)

    def _record_crash(self, cluster_id: int, exc: Exception) -> None:
        try:
            with self.store.session() as s:
                op = journal.active_operation(s, cluster_id)
                if op is not None:
                    journal.event(s, op, op.target, "reconcile pass", "failed",
                                  message=f"{type(exc).__name__}: {exc}; retrying")
        except Exception:
            log.exception("cannot record the failed pass for cluster %s", cluster_id)
