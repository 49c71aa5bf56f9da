"""When the engine looks again: the next round of health checks, and the next pass.

Pure arithmetic and one direct call of the engine's dispatch, so nothing here depends on
how fast the machine is."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ndovu.engine import Engine
from ndovu.engine.reconciler import HEALTH_POLL_PER_NODE_S, HEALTH_POLL_S, health_requeue_s
from ndovu.engine.runner import MIN_SLEEP_S
from ndovu.statuses import OperationType, TaskStatus
from ndovu.store import Store
from ndovu.store.models import Cluster, Operation
from tests.databases import database_url
from tests.engine_doubles import MemoryProvider


def test_quick_checks_are_repeated_every_poll_interval() -> None:
    # the interval counts from when the round began: its own time is part of it
    assert health_requeue_s(3, took_s=0.0, cpu_s=0.0) == HEALTH_POLL_S
    assert health_requeue_s(3, took_s=0.04, cpu_s=0.001) == pytest.approx(HEALTH_POLL_S - 0.04)


def test_a_check_that_waited_for_its_answer_is_followed_at_once() -> None:
    # etcd held one request until its member had a quorum; the others were looked at
    # before that wait began, so they are looked at again now
    assert health_requeue_s(3, took_s=0.8, cpu_s=0.002) == 0.002


def test_checks_that_burn_cpu_leave_as_much_time_idle() -> None:
    assert health_requeue_s(3, took_s=0.5, cpu_s=0.4) == 0.4
    # a large stage is looked at less often, however quick its checks
    nodes = 1000
    assert health_requeue_s(nodes, took_s=0.1, cpu_s=0.05) == pytest.approx(
        HEALTH_POLL_PER_NODE_S * nodes - 0.1)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    store = Store(database_url(tmp_path))
    store.migrate()
    return Engine(store, MemoryProvider(), {})


def _cluster_with_work(store: Store) -> int:
    with store.session() as s:
        cluster = Cluster(name="c", type="t", plan={}, status="PROVISIONING")
        s.add(cluster)
        s.flush()
        s.add(Operation(cluster_id=cluster.id, target="c", type=OperationType.CREATE,
                        status=TaskStatus.STARTED))
        return cluster.id


def test_a_pass_due_within_the_shortest_sleep_runs_now_not_a_sleep_late(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster_id = _cluster_with_work(engine.store)
    passes: list[int] = []
    monkeypatch.setattr(engine.reconciler, "reconcile", lambda c: passes.append(c))
    # due in less than the loop would sleep: waiting for it would cost a whole sleep
    engine._next_run[cluster_id] = time.monotonic() + MIN_SLEEP_S * 0.9
    engine._dispatch()
    engine._cluster_pool.shutdown(wait=True)  # the submitted pass runs to its end
    engine.stop()
    assert passes == [cluster_id]


def test_a_pass_due_later_waits_and_the_loop_sleeps_until_then(engine: Engine) -> None:
    cluster_id = _cluster_with_work(engine.store)
    engine._next_run[cluster_id] = time.monotonic() + 60
    sleep = engine._dispatch()
    assert cluster_id not in engine._busy
    assert MIN_SLEEP_S <= sleep <= 60
    engine.stop()
