"""The real engine, store and API against an in-memory provider and scripted roles.

Fast and deterministic checks of the reconciler's behaviour: ordering from what roles
require, bounded parallelism, failure reporting, timeouts, superseding and orphans. The
same behaviour against real ZooKeeper nodes is in tests/integration."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_doubles import MemoryProvider
from tests.helpers import wait_until

LAYERED_SPEC = {"nodeGroups": [
    {"name": "coord", "roles": ["coord"], "instanceNum": "[3,1,max]",
     "instanceType": "[SMALL]"},
    {"name": "worker", "roles": ["worker"], "instanceNum": "[3,1,max]",
     "instanceType": "[SMALL]"},
]}


@pytest.fixture
def catalog_spec() -> dict[str, Any]:
    return LAYERED_SPEC


def test_create_runs_roles_in_the_order_they_require_in_memory(make_stack) -> None:
    stack = make_stack(coord={"checks_until_healthy": 3})
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "COMPLETED" and op["progress"] == 100
    nodes = stack.nodes()
    assert sorted(nodes) == [f"c-coord-{i}" for i in range(3)] + [
        f"c-worker-{i}" for i in range(3)]
    assert {n["status"] for n in nodes.values()} == {"SERVICE_READY"}
    # from the events, not the clock: every worker starts after every coord is ready
    events = stack.events(op["id"])
    coord_ready = [e["id"] for e in events
                   if e["step"] == "service ready" and "coord" in e["node"]]
    worker_start = [e["id"] for e in events
                    if e["step"] == "start worker" and e["outcome"] == "ok"]
    assert len(coord_ready) == 3 and len(worker_start) == 3
    assert max(coord_ready) < min(worker_start)
    # roles saw every member of their role
    conf = stack.provider.transports["c-worker-0"].files["worker.conf"]
    assert conf.count("10.0.0.") == 3
    cluster = stack.client.get("/v1/clusters/c").json()
    assert cluster["status"] == "RUNNING" and set(cluster["endpoints"]) == {"coord", "worker"}


def test_node_work_is_parallel_and_bounded_by_the_provider_in_memory(make_stack) -> None:
    provider = MemoryProvider(max_parallel=2, delay_s=0.05)
    stack = make_stack(provider)
    assert stack.wait(stack.submit_create()["id"])["status"] == "COMPLETED"
    assert provider.peak_in_flight == 2  # parallel, and never above the limit
    assert sorted(name for verb, name in provider.calls if verb == "ensure") == sorted(
        stack.nodes())


def test_a_provider_failure_fails_the_node_and_the_operation_in_memory(make_stack) -> None:
    provider = MemoryProvider(fail={"c-worker-1": "no capacity left in pool 'rp1'"})
    stack = make_stack(provider)
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "FAILED"
    assert op["failNodes"] == ["c-worker-1"]
    assert "c-worker-1" in op["errorMessage"] and "no capacity" in op["errorMessage"]
    node = stack.nodes()["c-worker-1"]
    assert node["status"] == "BOOTSTRAP_FAILED" and "no capacity" in node["errMessage"]
    assert stack.client.get("/v1/clusters/c").json()["status"] == "PROVISION_ERROR"


def test_a_node_still_booting_is_looked_at_again_not_failed_in_memory(make_stack) -> None:
    """A provider that answers "pending" (a server still booting) frees its slot and is
    asked again later; that is no failed attempt, however often it happens (the retry
    policy allows 4 failures)."""
    provider = MemoryProvider(max_parallel=1, pending={"c-coord-0": 8, "c-worker-1": 6})
    stack = make_stack(provider)
    op = stack.create()
    events = stack.events(op["id"])
    assert not [e for e in events if e["outcome"] in ("retrying", "failed")], events
    assert [name for verb, name in provider.calls if verb == "ensure"].count("c-coord-0") == 9
    # while c-coord-0 booted, the one pool slot served the other nodes
    first_done = next(i for i, (verb, name) in enumerate(provider.calls)
                      if name == "c-coord-1")
    assert first_done < 8
    assert {n["status"] for n in stack.nodes().values()} == {"SERVICE_READY"}


def test_a_role_that_exits_fails_at_once_with_its_own_text_in_memory(make_stack) -> None:
    stack = make_stack(worker={"exit_message": "worker exited: bad heap size"})
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "FAILED"
    assert sorted(op["failNodes"]) == [f"c-worker-{i}" for i in range(3)]
    nodes = stack.nodes()
    assert {nodes[f"c-worker-{i}"]["status"] for i in range(3)} == {"BOOTSTRAP_FAILED"}
    assert "bad heap size" in nodes["c-worker-0"]["errMessage"]
    # the coordinators were healthy and stay so: the failure is not blamed on them
    assert {nodes[f"c-coord-{i}"]["status"] for i in range(3)} == {"SERVICE_READY"}
    assert sorted(op["succeedNodes"]) == [f"c-coord-{i}" for i in range(3)]


def test_a_role_that_never_gets_healthy_times_out_naming_it_in_memory(make_stack) -> None:
    stack = make_stack(timeout_s=0.5, coord={"checks_until_healthy": 10**9})
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "FAILED"
    assert "timed out" in op["errorMessage"] and "coord" in op["errorMessage"]
    assert "warming up" in op["errorMessage"]
    assert stack.roles["worker"].started_at == {}  # never started: coord was never ready


def test_each_stage_has_its_own_deadline_after_slow_provisioning_in_memory(
        make_stack) -> None:
    # provisioning six nodes one at a time takes at least 3 s (sleeps), longer than the
    # 2.5 s the software may take: the deadline counts from the stage's first start, not
    # from the operation's, so a slow VM boot does not eat the software's budget. Each
    # stage needs two checks ~0.1 s apart, so the budget leaves a slow machine ample room.
    provider = MemoryProvider(max_parallel=1, delay_s=0.5)
    stack = make_stack(provider, timeout_s=2.5, coord={"checks_until_healthy": 2})
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "COMPLETED", op["errorMessage"]
    # the premise, by construction rather than by clock (event times are whole seconds):
    # six provider calls of 0.5 s each, never two at once, took at least 3 s in all
    assert sum(verb == "ensure" for verb, _ in provider.calls) == 6
    assert provider.peak_in_flight == 1
    # every role installed its software through the node's transport before it started
    assert all(t.files.get(f"{role}.installed") == "yes\n"
               for name, t in provider.transports.items()
               for role in ("coord", "worker") if f"-{role}-" in name)


def test_a_start_error_is_reported_per_node_in_memory(make_stack) -> None:
    stack = make_stack(coord={"start_error": "port 2181 on 10.0.0.1 is already in use"})
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "FAILED"
    node = stack.nodes()["c-coord-0"]
    assert node["status"] == "BOOTSTRAP_FAILED" and "2181" in node["errMessage"]


def test_delete_supersedes_a_create_in_progress_in_memory(make_stack) -> None:
    provider = MemoryProvider(max_parallel=1)
    stack = make_stack(provider)
    provider.gate.clear()  # the create stays in progress until the delete is in
    create = stack.submit_create()
    wait_until(lambda: provider.in_flight, timeout=10, what="the first node being made",
               interval=0.01)
    delete = stack.client.delete("/v1/clusters/c")
    assert delete.status_code == 202
    assert stack.client.get(f"/v1/operations/{create['id']}").json()["status"] == "ABANDONED"
    provider.gate.set()
    assert stack.wait(delete.json()["id"])["status"] == "COMPLETED"
    assert provider.calls[-1] == ("release", "c")  # after every node
    assert provider.list_nodes("c") == []
    assert stack.client.get("/v1/clusters/c").status_code == 404


def test_nodes_left_by_an_interrupted_operation_are_adopted_or_removed_in_memory(
        make_stack) -> None:
    provider = MemoryProvider()
    provider.seed("c", "c-coord-0", "coord", 0)   # wanted: adopted, not duplicated
    provider.seed("c", "c-worker-7", "worker", 7)  # not wanted: removed
    adopted_address = provider.nodes["c-coord-0"].address
    stack = make_stack(provider)
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "COMPLETED"
    assert sorted(n.name for n in provider.list_nodes("c")) == sorted(stack.nodes())
    assert stack.nodes()["c-coord-0"]["ip"] == adopted_address
    assert [name for verb, name in provider.calls if verb == "delete"] == ["c-worker-7"]
    assert any(e["step"] == "remove orphan" and e["node"] == "c-worker-7"
               for e in stack.events(op["id"]))


def test_overrides_change_the_plan_in_memory(make_stack) -> None:
    stack = make_stack()
    op = stack.wait(stack.submit_create(nodeGroups=[{"name": "worker", "instanceNum": 5}])["id"])
    assert op["status"] == "COMPLETED"
    assert len([n for n in stack.nodes() if "-worker-" in n]) == 5
