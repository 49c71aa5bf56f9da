"""Several engines against one real PostgreSQL database: an API-only server
(`ndovu server --no-engine`) and two `ndovu engine` processes share the database and one
simulated cloud (the sim provider's inventory file). 20 clusters are created; one engine
kills itself (kill -9, chosen by its own events) while it works on some of them; the other
engine takes them over when their leases expire and finishes everything.

Asserted from the events: every cluster was worked on by one engine at a time (its events'
engines form unbroken runs, and a run changes hands only at a recorded takeover). Asserted
from the inventory: every cluster has exactly its nodes, no duplicates and no orphans.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from ndovu.providers.sim import SimProvider
from ndovu.store import Store
from ndovu.store.models import Cluster, Event, Operation
from tests.databases import new_database
from tests.helpers import NDOVU, Server, free_port, wait_until

pytestmark = pytest.mark.integration

CLUSTERS = 20
NODES = 4
LEASE_TTL_S = "3"
SIM = {"boot_latency_s": "0.3", "api_latency_s": "0.01", "max_parallel": "8"}


class Engine:
    """A real `ndovu engine` process."""

    def __init__(self, state_dir: Path, env: dict[str, str], *args: str):
        state_dir.mkdir(parents=True)
        self.state_dir = state_dir
        self.log = state_dir / "engine.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(NDOVU), "engine", "--state-dir", str(state_dir), "--provider", "sim",
                 *args],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self._running, timeout=30, what=f"the engine in {state_dir}")
        self.name = (state_dir / "engine-name").read_text().strip()

    def _running(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"engine exited: {self.log.read_text()[-2000:]}")
        return "running (state" in self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = new_database("postgresql")
    inventory = tmp_path / "cloud.db"
    options = {**SIM, "inventory": str(inventory)}
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
    env.update(NDOVU_DATABASE_URL=url, NDOVU_PROVIDER="sim",
               NDOVU_PROVIDER_OPTIONS=json.dumps(options),
               NDOVU_LEASE_TTL_S=LEASE_TTL_S)
    api = Server(tmp_path / "api", subnet="127.95.0.0/16", args=("--no-engine",),
                 env={"NDOVU_DATABASE_URL": url, "NDOVU_PROVIDER": "sim",
                      "NDOVU_PROVIDER_OPTIONS": env["NDOVU_PROVIDER_OPTIONS"]})
    api.start()
    engines: list[Engine] = []
    yield {"url": url, "api": api, "env": env, "engines": engines, "tmp": tmp_path,
           "inventory": str(inventory)}
    for engine in engines:
        engine.stop()
    api.stop()


def _events_by_cluster(url: str) -> dict[str, list[Event]]:
    store = Store(url)
    try:
        with store.session() as s:
            found: dict[str, list[Event]] = {}
            for e in s.scalars(select(Event).order_by(Event.id)):
                found.setdefault(e.cluster, []).append(e)
            return found
    finally:
        store.dispose()


def test_two_engines_share_the_clusters_and_one_takes_over_when_the_other_dies(
        shared: dict[str, Any]) -> None:
    env = shared["env"]
    # the first engine dies by itself once it has provisioned its 12th node
    a = Engine(shared["tmp"] / "engine-a", {**env, "NDOVU_CRASH_AFTER": "provision:ok@12"})
    metrics_port = free_port()
    b = Engine(shared["tmp"] / "engine-b", env, "--metrics-port", str(metrics_port))
    shared["engines"] += [a, b]
    api: Server = shared["api"]
    ops = []
    with api.client() as c:
        for i in range(CLUSTERS):
            r = c.post("/v1/clusters", json={
                "name": f"sim{i:02d}", "type": "sim",
                "nodeGroups": [{"name": "sim", "instanceNum": NODES}]})
            assert r.status_code == 202, r.text
            ops.append(r.json()["id"])
    assert a.proc.wait(120) == -signal.SIGKILL, a.log.read_text()[-2000:]

    def all_done() -> bool:
        with api.client() as c:
            statuses = [c.get(f"/v1/operations/{op}").json()["status"] for op in ops]
        assert "FAILED" not in statuses, statuses
        return all(s == "COMPLETED" for s in statuses)

    wait_until(all_done, timeout=180, what="every cluster RUNNING", interval=0.5)

    events = _events_by_cluster(shared["url"])
    took_over = 0
    for i in range(CLUSTERS):
        name = f"sim{i:02d}"
        runs: list[str] = []
        for e in events[name]:
            if e.engine is None:
                continue
            if not runs or runs[-1] != e.engine:
                # a change of hands happens only at a recorded takeover from a dead engine
                if runs:
                    assert e.step == "engine takeover" and runs[-1] == a.name, (
                        name, [(x.engine, x.step) for x in events[name]])
                    took_over += 1
                runs.append(e.engine)
        assert len(runs) == len(set(runs)), (name, runs)  # no engine came back to it
        assert set(runs) <= {a.name, b.name}
    worked_on = {engine: {name for name, es in events.items() if any(
        e.engine == engine for e in es)} for engine in (a.name, b.name)}
    # both did a share (each claims no more clusters than it has workers for)
    assert len(worked_on[a.name]) >= 2 and len(worked_on[b.name]) >= 2, worked_on
    assert took_over >= 1  # the dead engine left work in flight, and b finished it

    inventory = SimProvider(shared["tmp"], inventory=shared["inventory"])
    for i in range(CLUSTERS):
        name = f"sim{i:02d}"
        assert [n.name for n in inventory.list_nodes(name)] == [
            f"{name}-sim-{k}" for k in range(NODES)]
    store = Store(shared["url"])
    try:
        with store.session() as s:
            assert set(s.scalars(select(Cluster.status))) == {"RUNNING"}
            assert set(s.scalars(select(Cluster.lease_holder))) == {None}  # all handed back
            assert set(s.scalars(select(Operation.status))) == {"COMPLETED"}
    finally:
        store.dispose()
    with api.client() as c:  # the API process serves what the engines did
        assert c.get("/v1/clusters/sim00").json()["status"] == "RUNNING"

    # pass durations are each engine's own: b serves its passes on its metrics port, at
    # least one for each cluster it worked on; the API-only server has no engine to time
    passes = _samples(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).text)
    assert passes["ndovu_engine_pass_duration_seconds_count"] >= len(worked_on[b.name])
    assert passes["ndovu_engine_pass_duration_seconds_sum"] > 0
    assert "ndovu_engine_pass_duration_seconds_count" not in _samples(
        httpx.get(f"{api.url}/metrics", timeout=30).text)


def _samples(text: str) -> dict[str, float]:
    """A scrape's unlabelled samples (and the last of each labelled one) by name."""
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples}
