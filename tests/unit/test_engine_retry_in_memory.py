"""Provider failures: retries with back-off, and the failure policy, on the sim provider.

The real engine, store and API in process (as tests/memory_stack.py) against the real
SimProvider (in-memory inventory, no latency) and the real ``sim_service`` role, running
the built-in ``sim`` type. Failures come from the sim provider's seeded failure model, so
every run fails the same calls. Orders are read from the events, never from the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ndovu.api.app import create_app
from ndovu.api.deps import ApiContext
from ndovu.catalog import Catalog
from ndovu.engine import Engine
from ndovu.engine.retries import RetryPolicy
from ndovu.providers.sim import SimProvider
from ndovu.roles.sim import SimServiceRole
from ndovu.store import Store
from tests.databases import database_url
from tests.memory_stack import Stack, _logged_in

# a short back-off: the policy is what is tested, not the waiting
RETRY = RetryPolicy(attempts=4, first_delay_s=0.02)


@pytest.fixture
def make_sim_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    started: list[tuple[Engine, Store]] = []

    def make(name: str = "a", **options: Any) -> Stack:
        state = tmp_path / name
        state.mkdir()
        provider = SimProvider(state, boot_latency_s=0, api_latency_s=0, inventory=":memory:",
                               **options)
        store = Store(database_url(state))
        store.migrate()
        engine = Engine(store, provider, {"sim_service": SimServiceRole()},
                        bootstrap_timeout_s=30)
        engine.reconciler.retries.policy = RETRY
        app = create_app(ApiContext(
            store=store, catalog=Catalog.load(), validate_plan=engine.validate_plan,
            role_support=lambda names: engine.role_support(names, {"local": True, "sim": False}),
            notify=engine.wake, provider="sim"))
        engine.start()
        started.append((engine, store))
        return Stack(_logged_in(TestClient(app), store), provider,  # type: ignore[arg-type]
                     {}, engine)

    yield make
    for engine, store in started:
        engine.stop()
        store.dispose()


def create(stack: Stack, count: int) -> dict[str, Any]:
    accepted = stack.submit_create(type="sim", nodeGroups=[{"name": "sim",
                                                            "instanceNum": count}])
    return stack.wait(accepted["id"])


def attempts(events: list[dict[str, Any]], node: str) -> list[str]:
    """The outcomes of the node's provision attempts, in order."""
    return [e["outcome"] for e in events if e["step"] == "provision" and e["node"] == node]


def test_flaky_provider_calls_are_retried_until_they_succeed_in_memory(make_sim_stack) -> None:
    # seed 2 fails 10 of the first attempts at creating 20 nodes; c-sim-15 fails three
    # times and gets its node on the fourth and last attempt
    runs = []
    for name in ("a", "b"):
        stack = make_sim_stack(name, failure_rate=0.3, seed=2)
        op = create(stack, 20)
        assert op["status"] == "COMPLETED", op
        assert {n["status"] for n in stack.nodes().values()} == {"SERVICE_READY"}
        events = stack.events(op["id"])
        runs.append({node: attempts(events, node) for node in stack.nodes()})
    first, second = runs
    assert first == second  # seeded: the same calls fail on every run
    assert first["c-sim-15"] == ["retrying", "retrying", "retrying", "ok"]
    retried = {node for node, outcomes in first.items() if "retrying" in outcomes}
    assert retried == {"c-sim-4", "c-sim-7", "c-sim-11", "c-sim-13", "c-sim-15", "c-sim-17"}
    assert all(outcomes[-1] == "ok" for outcomes in first.values())
    message = next(e["message"] for e in stack.events(op["id"])
                   if e["node"] == "c-sim-15" and e["outcome"] == "retrying")
    assert "attempt 1 of 4 failed" in message and "503 Service Unavailable" in message


def test_a_node_that_keeps_failing_fails_the_operation_and_keeps_the_rest_in_memory(
        make_sim_stack) -> None:
    stack = make_sim_stack(fail_nodes=["c-sim-3"], max_parallel=2)
    op = create(stack, 6)
    assert op["status"] == "FAILED" and op["failNodes"] == ["c-sim-3"]
    assert "c-sim-3" in op["errorMessage"] and "no capacity" in op["errorMessage"]
    assert "gave up after 4 attempts" in op["errorMessage"]
    assert stack.cluster()["status"] == "PROVISION_ERROR"
    nodes = stack.nodes()
    assert nodes["c-sim-3"]["status"] == "BOOTSTRAP_FAILED"
    assert "no capacity" in nodes["c-sim-3"]["errMessage"]
    # the healthy nodes are kept as they are: provisioned, not torn down
    others = sorted(n for n in nodes if n != "c-sim-3")
    assert {nodes[n]["status"] for n in others} == {"VM_READY"}
    assert sorted(n.name for n in stack.provider.list_nodes("c")) == others

    events = stack.events(op["id"])
    assert attempts(events, "c-sim-3") == ["retrying", "retrying", "retrying", "failed"]
    # the other nodes were not held hostage: all of them were provisioned before the
    # failing node's second attempt, though only two calls run at once
    retries = [e["id"] for e in events if e["node"] == "c-sim-3"]
    provisioned = [e["id"] for e in events if e["step"] == "provision" and e["outcome"] == "ok"]
    assert len(provisioned) == 5 and max(provisioned) < retries[1]

    # the cloud recovers: start (BDE's resume) makes only the node that failed
    stack.provider.fail_nodes = ()
    addresses = {n: nodes[n]["ip"] for n in others}
    start = stack.run("POST", "/v1/clusters/c/start")
    assert start["status"] == "COMPLETED", start
    assert stack.cluster()["status"] == "RUNNING"
    nodes = stack.nodes()
    assert {n["status"] for n in nodes.values()} == {"SERVICE_READY"}
    assert {n: nodes[n]["ip"] for n in others} == addresses
    made = [e["node"] for e in stack.events(start["id"])
            if e["step"] in ("provision", "power on") and e["outcome"] == "ok"]
    assert made == ["c-sim-3"]


def test_an_error_the_provider_marks_permanent_fails_at_once_in_memory(make_sim_stack) -> None:
    stack = make_sim_stack(refuse_nodes=["c-sim-1"])
    op = create(stack, 3)
    assert op["status"] == "FAILED" and op["failNodes"] == ["c-sim-1"]
    assert "no flavor fits" in op["errorMessage"]
    assert "gave up" not in op["errorMessage"]
    assert attempts(stack.events(op["id"]), "c-sim-1") == ["failed"]
    assert stack.nodes()["c-sim-1"]["status"] == "BOOTSTRAP_FAILED"


def test_flaky_power_off_and_delete_are_retried_in_memory(make_sim_stack) -> None:
    # every mutating call may fail: stop and delete finish all the same
    stack = make_sim_stack(failure_rate=0.3, seed=5)
    assert create(stack, 10)["status"] == "COMPLETED"
    stop = stack.run("POST", "/v1/clusters/c/stop")
    assert stop["status"] == "COMPLETED", stop
    assert not any(n.powered_on for n in stack.provider.list_nodes("c"))
    start = stack.run("POST", "/v1/clusters/c/start")
    assert start["status"] == "COMPLETED", start
    delete = stack.run("DELETE", "/v1/clusters/c")
    assert delete["status"] == "COMPLETED", delete
    assert stack.provider.list_nodes("c") == []
    outcomes = {(e["step"], e["outcome"]) for op in (stop, start, delete)
                for e in stack.events(op["id"])}
    assert {("power off", "retrying"), ("power on", "retrying"),
            ("delete node", "retrying")} <= outcomes
