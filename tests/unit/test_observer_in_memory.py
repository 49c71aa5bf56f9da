"""Watching clusters at rest: the real engine, store and API against the in-memory
provider and scripted roles (tests/memory_stack.py). Looks are made directly
(Observer.observe) except in the last test, where the engine's own schedule makes them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ndovu.engine.runner import observe_offset
from ndovu.store.models import Cluster, Event
from tests.helpers import wait_until

SPEC = {"nodeGroups": [
    {"name": "coord", "roles": ["coord"], "instanceNum": "[3,1,max]",
     "instanceType": "[SMALL]"},
    {"name": "worker", "roles": ["worker"], "instanceNum": "[3,1,6]",
     "instanceType": "[SMALL]"},
]}


@pytest.fixture
def catalog_spec() -> dict[str, Any]:
    return SPEC


def _look(stack: Any) -> bool:
    with stack.engine.store.session() as s:
        cluster_id = s.scalars(select(Cluster.id).where(Cluster.name == "c")).one()
    return stack.engine.observer.observe(cluster_id)


def _observe_events(stack: Any) -> list[Any]:
    with stack.engine.store.session() as s:
        return list(s.scalars(select(Event).where(Event.step == "observe")
                              .order_by(Event.id)))


def test_a_healthy_cluster_is_looked_at_and_nothing_is_written_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    with stack.engine.store.session() as s:
        events_before = s.scalar(select(func.count()).select_from(Event))
    assert _look(stack) and _look(stack)
    with stack.engine.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == events_before
    assert stack.cluster()["status"] == "RUNNING"


def test_a_dead_service_turns_its_node_and_the_cluster_and_start_repairs_it_in_memory(
        make_stack) -> None:
    stack = make_stack()
    stack.create()
    stack.provider.transports["c-worker-1"].stop_service("worker")  # behind ndovu's back
    assert _look(stack)
    nodes, cluster = stack.nodes(), stack.cluster()
    assert nodes["c-worker-1"]["status"] == "SERVICE_UNHEALTHY"
    message = nodes["c-worker-1"]["errMessage"]
    assert message.startswith("worker not serving: worker is not running (since ")
    assert {n["status"] for name, n in nodes.items() if name != "c-worker-1"} == {
        "SERVICE_READY"}
    assert cluster["status"] == "SERVICE_WARNING"
    assert "1 of 6 nodes unwell: c-worker-1 SERVICE_UNHEALTHY" in cluster["errorMessage"]
    events = _observe_events(stack)
    assert [(e.node, e.outcome) for e in events] == [("c-worker-1", "unwell"), (None, "unwell")]
    assert events[0].message == ("SERVICE_READY -> SERVICE_UNHEALTHY: worker not serving: "
                                 "worker is not running")
    assert events[1].message.startswith("RUNNING -> SERVICE_WARNING")

    # unchanged: nothing written, the first words and their time stay
    assert _look(stack)
    assert len(_observe_events(stack)) == 2
    assert stack.nodes()["c-worker-1"]["errMessage"] == message

    # the exited service is no longer counted as started: a start starts it again, as
    # the member it was (not as a node joining)
    stack.roles["worker"].log.clear()
    op = stack.run("POST", "/v1/clusters/c/start")
    assert op["status"] == "COMPLETED", op
    assert stack.roles["worker"].log == [("start", "c-worker-1", False)]
    assert stack.cluster()["status"] == "RUNNING"
    assert stack.nodes()["c-worker-1"]["status"] == "SERVICE_READY"
    assert _look(stack)
    assert stack.cluster()["status"] == "RUNNING"


def test_machines_gone_or_off_say_so_and_none_serving_is_service_stopped_in_memory(
        make_stack) -> None:
    stack = make_stack()
    stack.create()
    stack.provider.power_off("c", "c-worker-0")
    del stack.provider.nodes["c-worker-2"]
    assert _look(stack)
    nodes = stack.nodes()
    assert nodes["c-worker-0"]["status"] == "POWERED_OFF"
    assert nodes["c-worker-2"]["status"] == "NOT_EXIST"
    assert "provider no longer has this node's machine" in nodes["c-worker-2"]["errMessage"]
    assert stack.cluster()["status"] == "SERVICE_WARNING"

    for name in ("c-coord-0", "c-coord-1", "c-coord-2", "c-worker-1"):
        service = "coord" if "coord" in name else "worker"
        stack.provider.transports[name].stop_service(service)
    assert _look(stack)
    cluster = stack.cluster()
    assert cluster["status"] == "SERVICE_STOPPED"
    assert cluster["errorMessage"].startswith("no node serves: ")


def test_an_operation_begun_during_a_look_wins_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    stack.provider.transports["c-worker-0"].stop_service("worker")
    worker = stack.roles["worker"]
    probe = worker.health
    begun: list[dict[str, Any]] = []

    def stop_requested_meanwhile(ctx: Any) -> Any:
        if not begun:
            begun.append(stack.accepted("POST", "/v1/clusters/c/stop"))
        return probe(ctx)

    worker.health = stop_requested_meanwhile  # type: ignore[method-assign]
    _look(stack)
    assert not _observe_events(stack)  # the stop's statuses, not the look's
    assert stack.wait(begun[0]["id"])["status"] == "COMPLETED"
    assert stack.cluster()["status"] == "STOPPED"
    assert not _look(stack)  # a stopped cluster is not watched


def test_the_engine_looks_by_itself_each_interval_in_memory(make_stack) -> None:
    stack = make_stack(observe_interval_s=0.2)
    stack.create()
    stack.provider.transports["c-coord-2"].stop_service("coord")
    wait_until(lambda: stack.cluster()["status"] == "SERVICE_WARNING", timeout=20,
               what="the engine to notice the dead coord", interval=0.05)
    assert stack.nodes()["c-coord-2"]["status"] == "SERVICE_UNHEALTHY"


def test_looks_are_spread_over_the_interval() -> None:
    offsets = sorted(observe_offset(cluster_id, 30.0) for cluster_id in range(1, 1001))
    assert all(0 <= o < 30.0 for o in offsets)
    gaps = [b - a for a, b in zip([0.0, *offsets], [*offsets, 30.0], strict=True)]
    assert max(gaps) < 0.1  # 1,000 clusters: never a tenth of a second without a look


# -- healing ----------------------------------------------------------------------------


def _heals(stack: Any) -> list[dict[str, Any]]:
    ops = stack.client.get("/v1/operations").json()["operations"]
    return [op for op in ops if op["type"] == "HEAL"]


def test_a_stopped_service_is_started_again_by_a_heal_operation_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create(healing={"unhealthyAfter": 0})
    assert stack.cluster()["healing"] == {"enabled": True, "unhealthyAfter": 0,
                                          "maxUnhealthy": "40%"}
    stack.provider.transports["c-worker-1"].stop_service("worker")
    stack.roles["worker"].log.clear()
    assert _look(stack)
    (heal,) = _heals(stack)
    op = stack.wait(heal["id"])
    assert op["status"] == "COMPLETED", op
    # started again as the member it was, and nothing else touched
    assert stack.roles["worker"].log == [("start", "c-worker-1", False)]
    assert stack.cluster()["status"] == "RUNNING"
    started = [e for e in stack.events(heal["id"]) if e["step"] == "heal"]
    assert "c-worker-1" in started[0]["message"] and "healing policy" in started[0]["message"]


def test_a_heal_waits_for_unhealthy_after_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()  # the default policy: 300 s
    stack.provider.transports["c-worker-1"].stop_service("worker")
    assert _look(stack) and _look(stack)
    assert _heals(stack) == []
    assert stack.cluster()["status"] == "SERVICE_WARNING"


def test_more_unwell_than_max_unhealthy_touches_nothing_and_says_so_in_memory(
        make_stack) -> None:
    stack = make_stack()
    stack.create(healing={"unhealthyAfter": 0, "maxUnhealthy": 1})
    for name in ("c-worker-0", "c-worker-1"):
        stack.provider.transports[name].stop_service("worker")
    assert _look(stack) and _look(stack)
    assert _heals(stack) == []
    message = stack.cluster()["errorMessage"]
    assert "2 unwell is more than healing's maxUnhealthy (1, 1 of 6)" in message
    assert "repairs nothing" in message


def test_healing_off_leaves_the_status_turning_and_touches_nothing_in_memory(
        make_stack) -> None:
    stack = make_stack()
    stack.create(healing={"enabled": False, "unhealthyAfter": 0})
    stack.provider.transports["c-worker-2"].stop_service("worker")
    assert _look(stack) and _look(stack)
    assert _heals(stack) == []
    assert stack.nodes()["c-worker-2"]["status"] == "SERVICE_UNHEALTHY"


def test_a_bad_healing_policy_is_refused_naming_the_field_in_memory(make_stack) -> None:
    stack = make_stack()
    for healing, field in (({"maxUnhealthy": "140%"}, "healing.maxUnhealthy"),
                           ({"unhealthyAfter": -1}, "healing.unhealthyAfter"),
                           ({"enabled": "yes"}, "healing.enabled"),
                           ({"restartAfter": 5}, "healing.restartAfter")):
        r = stack.client.post("/v1/clusters", json={"name": "c", "type": "layered",
                                                    "healing": healing})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field, r.json()
    assert stack.client.get("/v1/clusters").json()["clusters"] == []


def test_a_node_whose_machine_is_gone_is_made_again_and_joins_anew_in_memory(
        make_stack) -> None:
    stack = make_stack()
    stack.create(healing={"unhealthyAfter": 0})
    del stack.provider.nodes["c-worker-2"]
    del stack.provider.transports["c-worker-2"]
    stack.roles["worker"].log.clear()
    assert _look(stack)
    (heal,) = _heals(stack)
    assert stack.wait(heal["id"])["status"] == "COMPLETED"
    assert "c-worker-2" in stack.provider.nodes
    # a fresh node: it joins the running cluster (etcd would add its member anew)
    assert stack.roles["worker"].log == [("start", "c-worker-2", True)]
    assert stack.cluster()["status"] == "RUNNING"


def test_a_node_of_a_role_that_cannot_be_replaced_is_left_as_it_is_in_memory(
        make_stack) -> None:
    stack = make_stack(worker={"replaceable": False})
    stack.create(healing={"unhealthyAfter": 0})
    del stack.provider.nodes["c-worker-2"]
    assert _look(stack) and _look(stack)
    assert _heals(stack) == []
    assert stack.nodes()["c-worker-2"]["status"] == "NOT_EXIST"
