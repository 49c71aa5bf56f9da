"""Stop, start, resize and scale: the real engine, store and API against an in-memory
provider and scripted roles (tests/engine_doubles.py).

Orders are read from the events and the roles' logs, never from the clock. The same
lifecycle against real ZooKeeper and etcd nodes is in tests/integration/test_lifecycle.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from ndovu.spec.limits import ServerLimits
from tests.engine_doubles import MemoryProvider

SPEC = {"nodeGroups": [
    {"name": "coord", "roles": ["coord"], "instanceNum": "[3,1,max]",
     "instanceType": "[SMALL]"},
    {"name": "worker", "roles": ["worker"], "instanceNum": "[3,1,6]",
     "instanceType": "[SMALL]", "cpuNum": "[1,1,4]"},
]}


@pytest.fixture
def catalog_spec() -> dict[str, Any]:
    return SPEC


def _ids(events: list[dict[str, Any]], step: str, node_part: str = "") -> list[int]:
    return [e["id"] for e in events
            if e["step"] == step and e["outcome"] == "ok" and node_part in (e["node"] or "")]


COORDS = [f"c-coord-{i}" for i in range(3)]
WORKERS = [f"c-worker-{i}" for i in range(3)]


# -- stop and start ---------------------------------------------------------------------


def test_stop_runs_the_start_order_backwards_then_powers_off_in_memory(make_stack) -> None:
    stack = make_stack()
    create = stack.create()
    stop = stack.run("POST", "/v1/clusters/c/stop")
    assert (stop["type"], stop["status"], stop["progress"]) == ("STOP", "COMPLETED", 100)
    assert sorted(stop["succeedNodes"]) == COORDS + WORKERS

    # create started coord before worker; stop stops every worker before any coord, and
    # powers nodes off only after every role is stopped
    started = stack.events(create["id"])
    assert max(_ids(started, "start coord")) < min(_ids(started, "start worker"))
    events = stack.events(stop["id"])
    stop_worker, stop_coord = _ids(events, "stop worker"), _ids(events, "stop coord")
    power_off = _ids(events, "power off")
    assert len(stop_worker) == len(stop_coord) == 3 and len(power_off) == 6
    assert max(stop_worker) < min(stop_coord) and max(stop_coord) < min(power_off)
    for event in events:
        if event["step"] in ("stop worker", "stop coord", "power off"):
            assert event["node"] and event["durationMs"] is not None, event

    cluster = stack.cluster()
    assert cluster["status"] == "STOPPED"
    assert {n["status"] for n in stack.nodes().values()} == {"POWERED_OFF"}
    assert not any(n.powered_on for n in stack.provider.list_nodes("c"))
    # the nodes, their files and addresses stay; nothing runs
    assert sorted(stack.provider.nodes) == COORDS + WORKERS
    assert all(stack.provider.transports[n].files for n in COORDS + WORKERS)
    assert not any(t.services for t in stack.provider.transports.values())
    # the cluster's own log says the same
    log = stack.client.get("/v1/clusters/c/events").json()["events"]
    assert {e["step"] for e in log} >= {"stop worker", "stop coord", "power off",
                                        "cluster stopped"}


def test_start_after_stop_restarts_roles_in_order_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    addresses = {name: n["ip"] for name, n in stack.nodes().items()}
    assert stack.run("POST", "/v1/clusters/c/stop")["status"] == "COMPLETED"
    for role in stack.roles.values():
        role.log.clear()

    start = stack.run("POST", "/v1/clusters/c/start")
    assert (start["type"], start["status"]) == ("START", "COMPLETED")
    events = stack.events(start["id"])
    assert len(_ids(events, "power on")) == 6
    coord_ready = _ids(events, "service ready", "coord")
    assert len(coord_ready) == 3
    assert max(_ids(events, "power on")) < min(_ids(events, "start coord"))
    assert max(coord_ready) < min(_ids(events, "start worker"))
    # every role started again, none as a joiner
    assert sorted(n for verb, n, _ in stack.roles["coord"].log if verb == "start") == COORDS
    assert sorted(n for verb, n, _ in stack.roles["worker"].log if verb == "start") == WORKERS
    assert not any(joining for role in stack.roles.values() for _, _, joining in role.log)

    assert stack.cluster()["status"] == "RUNNING"
    nodes = stack.nodes()
    assert {n["status"] for n in nodes.values()} == {"SERVICE_READY"}
    assert {name: n["ip"] for name, n in nodes.items()} == addresses  # same nodes


def test_stop_and_start_refuse_what_already_is_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    r = stack.client.post("/v1/clusters/c/start")
    assert r.status_code == 409 and "already RUNNING" in r.json()["error"]["message"]
    assert stack.run("POST", "/v1/clusters/c/stop")["status"] == "COMPLETED"
    r = stack.client.post("/v1/clusters/c/stop")
    assert r.status_code == 409 and "already STOPPED" in r.json()["error"]["message"]
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/instancenum",
                         json={"instanceNum": 4})
    assert r.status_code == 409 and "STOPPED" in r.json()["error"]["message"]
    assert stack.client.post("/v1/clusters/nobody/stop").status_code == 404


def test_stop_resumes_where_nodes_are_off_already_in_memory(make_stack) -> None:
    """As after a crash between a power-off and its record: that node is just marked
    POWERED_OFF, nothing is stopped twice."""
    stack = make_stack()
    stack.create()
    stack.provider.power_off("c", "c-worker-1")
    stop = stack.run("POST", "/v1/clusters/c/stop")
    assert stop["status"] == "COMPLETED"
    stopped = {n for verb, n, _ in stack.roles["worker"].log if verb == "stop"}
    assert stopped == {"c-worker-0", "c-worker-2"}
    assert {n["status"] for n in stack.nodes().values()} == {"POWERED_OFF"}


def test_a_role_that_cannot_stop_fails_the_stop_naming_the_node_in_memory(make_stack) -> None:
    stack = make_stack(worker={"stop_error": "worker would not exit: pid 42 stuck in D"})
    stack.create()
    op = stack.run("POST", "/v1/clusters/c/stop")
    assert op["status"] == "FAILED" and sorted(op["failNodes"]) == WORKERS
    assert "c-worker-0" in op["errorMessage"] and "stuck in D" in op["errorMessage"]
    nodes = stack.nodes()
    # the node is still what it was, with the role's own words; coord was not touched
    assert nodes["c-worker-0"]["status"] == "SERVICE_READY"
    assert "stuck in D" in nodes["c-worker-0"]["errMessage"]
    assert not any(verb == "stop" for verb, _, _ in stack.roles["coord"].log)
    assert stack.cluster()["status"] == "ERROR"
    assert all(n.powered_on for n in stack.provider.list_nodes("c"))


# -- resize -----------------------------------------------------------------------------


def test_resize_out_adds_nodes_that_join_one_at_a_time_in_memory(make_stack) -> None:
    stack = make_stack(MemoryProvider())
    stack.create()
    stack.provider.gate.clear()  # the new nodes are not made until the rows are checked
    accepted = stack.accepted("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                              json={"instanceNum": 5})
    assert accepted["type"] == "RESIZE"
    # the plan and the new rows are there at once; the engine has not made them yet
    cluster = stack.cluster()
    assert cluster["status"] == "UPDATING"
    worker_group = next(g for g in cluster["nodeGroups"] if g["name"] == "worker")
    assert worker_group["instanceNum"] == 5
    new = {n["name"]: n["status"] for n in worker_group["instances"]
           if n["name"] in ("c-worker-3", "c-worker-4")}
    assert new == {"c-worker-3": "NOT_EXIST", "c-worker-4": "NOT_EXIST"}
    stack.provider.gate.set()

    op = stack.wait(accepted["id"])
    assert op["status"] == "COMPLETED", op
    nodes = stack.nodes()
    assert sorted(nodes) == COORDS + [f"c-worker-{i}" for i in range(5)]
    assert {n["status"] for n in nodes.values()} == {"SERVICE_READY"}
    # only the new nodes started, as joiners; nothing else was touched
    log = stack.roles["worker"].log
    assert [(verb, n, joining) for verb, n, joining in log if verb == "start"][-2:] == [
        ("start", "c-worker-3", True), ("start", "c-worker-4", True)]
    assert sum(1 for verb, _, _ in log if verb == "start") == 5
    assert not any(verb == "stop" for role in stack.roles.values() for verb, _, _ in role.log)
    # one at a time: the second joins once the first is ready
    events = stack.events(op["id"])
    assert _ids(events, "service ready", "c-worker-3")[0] < _ids(
        events, "start worker", "c-worker-4")[0]
    cluster = stack.cluster()
    assert cluster["status"] == "RUNNING"
    assert len(cluster["endpoints"]["worker"].split(",")) == 5


def test_start_after_a_failed_resize_lets_the_new_node_join_in_memory(make_stack) -> None:
    provider = MemoryProvider(fail={"c-worker-3": "no capacity left in pool 'rp1'"})
    stack = make_stack(provider)
    stack.create()
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                   json={"instanceNum": 4})
    assert op["status"] == "FAILED" and op["failNodes"] == ["c-worker-3"]
    assert "no capacity" in op["errorMessage"]
    assert stack.cluster()["status"] == "PROVISION_ERROR"
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/instancenum",
                         json={"instanceNum": 5})
    assert r.status_code == 409 and "PROVISION_ERROR" in r.json()["error"]["message"]

    provider.fail.clear()  # capacity came back: a start retries the converge
    start = stack.run("POST", "/v1/clusters/c/start")
    assert start["status"] == "COMPLETED", start
    # the running nodes were left alone; the new one joined them
    assert [(verb, n, joining) for verb, n, joining in stack.roles["worker"].log
            if n == "c-worker-3"] == [("start", "c-worker-3", True)]
    assert sum(1 for verb, _, _ in stack.roles["worker"].log if verb == "start") == 4
    assert stack.cluster()["status"] == "RUNNING"
    assert stack.nodes()["c-worker-3"]["status"] == "SERVICE_READY"


def test_a_node_a_failed_resize_added_joins_even_after_a_stop_in_memory(make_stack) -> None:
    """The node never ran its role; the others did: after stop and start it must join
    them, not found a cluster of its own (for etcd: member add, state "existing")."""
    provider = MemoryProvider(fail={"c-worker-3": "no capacity left in pool 'rp1'"})
    stack = make_stack(provider, worker={"refuse_joins": 2})
    stack.create()
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                   json={"instanceNum": 4})
    assert op["status"] == "FAILED" and op["failNodes"] == ["c-worker-3"]
    assert stack.run("POST", "/v1/clusters/c/stop")["status"] == "COMPLETED"

    provider.fail.clear()
    stack.roles["worker"].log.clear()
    start = stack.run("POST", "/v1/clusters/c/start")
    assert start["status"] == "COMPLETED", start
    starts = [(n, joining) for verb, n, joining in stack.roles["worker"].log if verb == "start"]
    # the three founders restart as members; the new node joins, once they can admit it
    assert sorted(n for n, joining in starts if not joining) == [f"c-worker-{i}"
                                                                 for i in range(3)]
    assert [n for n, joining in starts if joining][-1:] == ["c-worker-3"]
    assert stack.nodes()["c-worker-3"]["status"] == "SERVICE_READY"
    # and a further stop and start treats it as a member like the others
    assert stack.run("POST", "/v1/clusters/c/stop")["status"] == "COMPLETED"
    stack.roles["worker"].log.clear()
    assert stack.run("POST", "/v1/clusters/c/start")["status"] == "COMPLETED"
    assert not [n for verb, n, joining in stack.roles["worker"].log
                if verb == "start" and joining]


def test_a_join_the_cluster_refuses_for_now_is_asked_again_in_memory(make_stack) -> None:
    stack = make_stack(worker={"refuse_joins": 3})
    stack.create()
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                   json={"instanceNum": 4})
    assert op["status"] == "COMPLETED", op
    events = stack.events(op["id"])
    waits = [e for e in events if e["step"] == "join worker"]
    assert len(waits) == 1 and waits[0]["outcome"] == "waiting"  # said once, not per try
    assert "not ready to admit" in waits[0]["message"]
    assert stack.nodes()["c-worker-3"]["status"] == "SERVICE_READY"


def test_a_join_refused_until_the_timeout_fails_naming_the_node_in_memory(
        make_stack) -> None:
    stack = make_stack(timeout_s=1.5, worker={"refuse_joins": 10**6})
    stack.create()
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                   json={"instanceNum": 4})
    assert op["status"] == "FAILED" and op["failNodes"] == ["c-worker-3"]
    assert "did not admit c-worker-3" in op["errorMessage"]
    assert stack.cluster()["status"] == "PROVISION_ERROR"


def test_resize_in_decommissions_then_removes_the_highest_indexes_in_memory(
        make_stack) -> None:
    stack = make_stack()
    stack.create(nodeGroups=[{"name": "worker", "instanceNum": 5}])
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                   json={"instanceNum": 3})
    assert (op["type"], op["status"]) == ("RESIZE", "COMPLETED")

    assert sorted(stack.nodes()) == COORDS + WORKERS
    assert sorted(stack.provider.nodes) == COORDS + WORKERS
    # each leaving node: decommission, then stop; the highest index first
    log = [(verb, n) for verb, n, _ in stack.roles["worker"].log if verb != "start"]
    assert log == [("decommission", "c-worker-4"), ("stop", "c-worker-4"),
                   ("decommission", "c-worker-3"), ("stop", "c-worker-3")]
    # the role saw the members that stay
    assert stack.roles["worker"].decommissioned["c-worker-4"] == WORKERS
    assert all(verb == "start" for verb, _, _ in stack.roles["coord"].log)  # untouched
    events = stack.events(op["id"])
    for node in ("c-worker-3", "c-worker-4"):
        steps = [e["step"] for e in events if e["node"] == node]
        assert steps == ["decommission worker", "stop worker", "remove node"], steps
    assert _ids(events, "remove node", "c-worker-4")[0] < _ids(
        events, "decommission worker", "c-worker-3")[0]
    assert all(e["durationMs"] is not None for e in events if e["step"] == "remove node")
    assert [n for verb, n in stack.provider.calls if verb == "delete"] == [
        "c-worker-4", "c-worker-3"]
    cluster = stack.cluster()
    assert cluster["status"] == "RUNNING" and cluster["instanceNum"] == 6
    assert len(cluster["endpoints"]["worker"].split(",")) == 3


def test_a_failed_decommission_keeps_the_node_and_names_it_in_memory(make_stack) -> None:
    stack = make_stack(worker={"decommission_error": "the master still runs tasks there"})
    stack.create(nodeGroups=[{"name": "worker", "instanceNum": 4}])
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                   json={"instanceNum": 3})
    assert op["status"] == "FAILED" and op["failNodes"] == ["c-worker-3"]
    assert "c-worker-3" in op["errorMessage"] and "still runs tasks" in op["errorMessage"]
    assert "c-worker-3" in stack.provider.nodes  # not removed
    node = next(n for g in stack.cluster()["nodeGroups"] for n in g["instances"]
                if n["name"] == "c-worker-3")
    assert node["status"] == "SERVICE_READY" and "still runs tasks" in node["errMessage"]
    assert stack.cluster()["status"] == "PROVISION_ERROR"


@pytest.mark.parametrize(("count", "words"), [
    (7, ["[1,6]", "7"]), (0, ["[1,6]", "0"]), (-2, ["[1,6]"]), (3, ["already has 3"])])
def test_a_resize_outside_the_range_is_422_and_changes_nothing_in_memory(
        make_stack, count: int, words: list[str]) -> None:
    stack = make_stack()
    stack.create()
    before = stack.cluster()
    ops_before = stack.client.get("/v1/operations").json()["operations"]
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/instancenum",
                         json={"instanceNum": count})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "instanceNum"
    for word in words:
        assert word in error["message"], error
    after = stack.cluster()
    assert after["nodeGroups"] == before["nodeGroups"] and after["status"] == "RUNNING"
    assert stack.client.get("/v1/operations").json()["operations"] == ops_before


@pytest.mark.parametrize(("body", "field"), [
    ({"instanceNum": "three"}, "instanceNum"), ({"instanceNum": 4.5}, "instanceNum"),
    ({}, "instanceNum"), ({"instanceNum": 4, "extra": 1}, "extra")])
def test_a_resize_body_that_is_not_a_count_is_422_in_memory(make_stack, body,
                                                            field: str) -> None:
    stack = make_stack()
    stack.create()
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/instancenum", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
    assert stack.nodes().keys() == set(COORDS + WORKERS)


def test_a_resize_of_an_unknown_group_is_404_naming_the_groups_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    r = stack.client.put("/v1/clusters/c/nodegroups/workers/instancenum",
                         json={"instanceNum": 4})
    assert r.status_code == 404
    message = r.json()["error"]["message"]
    assert "'workers'" in message and "'coord'" in message and "'worker'" in message


# -- busy clusters --------------------------------------------------------------------


def test_a_busy_cluster_refuses_every_mutation_naming_the_operation_in_memory(
        make_stack) -> None:
    stack = make_stack(MemoryProvider(max_parallel=1))
    stack.provider.gate.clear()  # the create cannot finish until the refusals are seen
    create = stack.accepted("POST", "/v1/clusters", json={"name": "c", "type": "layered"})
    for method, path, body in [
        ("POST", "/v1/clusters/c/stop", None), ("POST", "/v1/clusters/c/start", None),
        ("PUT", "/v1/clusters/c/nodegroups/worker/instancenum", {"instanceNum": 4}),
        ("PUT", "/v1/clusters/c/nodegroups/worker/scale", {"cpuNum": 2}),
    ]:
        r = stack.client.request(method, path, json=body)
        assert r.status_code == 409, (path, r.text)
        message = r.json()["error"]["message"]
        assert f"operation {create['id']}" in message and "CREATE" in message, message
        assert f"/v1/operations/{create['id']}" in r.json()["error"]["hint"]
    stack.provider.gate.set()
    assert stack.wait(create["id"])["status"] == "COMPLETED"
    ops = stack.client.get("/v1/operations").json()["operations"]
    assert [o["type"] for o in ops] == ["CREATE"]

    # the same while a resize runs; a delete still supersedes it
    stack.provider.gate.clear()
    resize = stack.accepted("PUT", "/v1/clusters/c/nodegroups/worker/instancenum",
                            json={"instanceNum": 5})
    r = stack.client.post("/v1/clusters/c/stop")
    assert r.status_code == 409 and "RESIZE" in r.json()["error"]["message"]
    delete = stack.accepted("DELETE", "/v1/clusters/c")
    assert stack.client.get(f"/v1/operations/{resize['id']}").json()["status"] == "ABANDONED"
    stack.provider.gate.set()
    assert stack.wait(delete["id"])["status"] == "COMPLETED"
    assert stack.provider.list_nodes("c") == []


# -- scale ------------------------------------------------------------------------------


def test_scale_is_refused_when_the_provider_cannot_in_memory(make_stack) -> None:
    stack = make_stack(MemoryProvider(can_scale_nodes=False))
    stack.create()
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/scale",
                         json={"cpuNum": 2, "memCapacityMB": 2048})
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "not_supported"
    assert "made unable to scale" in error["message"] and "'worker'" in error["message"]
    assert [o["type"] for o in stack.client.get("/v1/operations").json()["operations"]] == [
        "CREATE"]
    assert not any(verb == "scale" for verb, _ in stack.provider.calls)


def test_scale_changes_every_node_of_the_group_one_at_a_time_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    op = stack.run("PUT", "/v1/clusters/c/nodegroups/worker/scale",
                   json={"cpuNum": 2, "memCapacityMB": 2048})
    assert (op["type"], op["status"], op["progress"]) == ("SCALE", "COMPLETED", 100)
    assert [n for verb, n in stack.provider.calls if verb == "scale"] == WORKERS
    sizes = {n.name: (n.cpu, n.memory_mb) for n in stack.provider.list_nodes("c")}
    assert {sizes[w] for w in WORKERS} == {(2, 2048)}
    assert all(sizes[c] != (2, 2048) for c in COORDS)
    # rolling: each scaled node is ready again before the next one is scaled
    events = stack.events(op["id"])
    order = [(e["step"], e["node"]) for e in events
             if e["step"] in ("scale node", "service ready") and e["outcome"] == "ok"]
    assert order == [(step, w) for w in WORKERS for step in ("scale node", "service ready")]
    group = next(g for g in stack.cluster()["nodeGroups"] if g["name"] == "worker")
    assert (group["cpuNum"], group["memCapacityMB"]) == (2, 2048)
    assert stack.cluster()["status"] == "RUNNING"
    assert {n["status"] for n in stack.nodes().values()} == {"SERVICE_READY"}


def test_the_servers_limits_hold_for_resize_and_scale_in_memory(make_stack) -> None:
    stack = make_stack(limits=ServerLimits(nodes_per_cluster=6, cpu_per_node=1))
    stack.create()  # 3 coordinators and 3 workers: at the limit
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/instancenum",
                         json={"instanceNum": 4})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "instanceNum"
    assert "cluster 'c' would have 7 nodes" in r.json()["error"]["message"]
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/scale", json={"cpuNum": 2})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "cpuNum"
    assert "this server allows at most 1" in r.json()["error"]["message"]
    assert "max_cpu_per_node" in r.json()["error"]["hint"]
    assert [o["type"] for o in stack.client.get("/v1/operations").json()["operations"]] == [
        "CREATE"]
    assert len(stack.nodes()) == 6


def test_scale_outside_the_spec_or_to_the_same_size_is_422_in_memory(make_stack) -> None:
    stack = make_stack()
    stack.create()
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/scale", json={"cpuNum": 8})
    assert r.status_code == 422 and r.json()["error"]["field"] == "cpuNum"
    assert "at most 4" in r.json()["error"]["message"]
    group = next(g for g in stack.cluster()["nodeGroups"] if g["name"] == "worker")
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/scale",
                         json={"cpuNum": group["cpuNum"]})
    assert r.status_code == 422 and "nothing to scale" in r.json()["error"]["message"]
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/scale", json={})
    assert r.status_code == 422
    r = stack.client.put("/v1/clusters/c/nodegroups/worker/scale", json={"cpuNum": 0})
    assert r.status_code == 422 and r.json()["error"]["field"] == "cpuNum"
    assert [o["type"] for o in stack.client.get("/v1/operations").json()["operations"]] == [
        "CREATE"]
