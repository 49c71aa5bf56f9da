"""A delete the provider keeps refusing, and the forced delete that ends it: the real
engine, store and API against the in-memory provider (tests/memory_stack.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine_doubles import MemoryProvider

SPEC = {"nodeGroups": [
    {"name": "coord", "roles": ["coord"], "instanceNum": "[3,1,max]",
     "instanceType": "[SMALL]"},
    {"name": "worker", "roles": ["worker"], "instanceNum": "[3,1,6]",
     "instanceType": "[SMALL]"},
]}
REFUSAL = "the hypervisor is in maintenance mode"


@pytest.fixture
def catalog_spec() -> dict[str, Any]:
    return SPEC


def test_a_forced_delete_gives_up_on_what_the_provider_refuses_and_says_so_in_memory(
        make_stack) -> None:
    provider = MemoryProvider()
    stack = make_stack(provider)
    stack.create()
    provider.refuse_delete["c-worker-1"] = REFUSAL

    # a plain delete retries, then fails naming the node and what the provider said
    op = stack.run("DELETE", "/v1/clusters/c")
    assert op["status"] == "FAILED"
    assert "c-worker-1" in op["errorMessage"] and REFUSAL in op["errorMessage"]
    assert stack.client.get("/v1/clusters/c").status_code == 200  # still there

    forced = stack.run("DELETE", "/v1/clusters/c?force=true")
    assert forced["status"] == "COMPLETED", forced
    assert forced["failNodes"] == ["c-worker-1"]
    assert "c-worker-1" not in forced["succeedNodes"] and len(forced["succeedNodes"]) == 5
    message = forced["progressMessage"]
    assert message.startswith("cluster c deleted by force; 1 node(s) the provider would not "
                              "delete may be left behind: c-worker-1: ")
    assert REFUSAL in message and "memory node c-worker-1" in message
    assert stack.client.get("/v1/clusters/c").status_code == 404
    # the provider keeps no record of it: a new cluster of that name adopts nothing
    assert provider.list_nodes("c") == []
    events = stack.events(forced["id"])
    assert [(e["node"], e["outcome"]) for e in events if e["step"] == "forget node"] == [
        ("c-worker-1", "left behind")]


def test_a_forced_delete_supersedes_a_delete_still_retrying_in_memory(make_stack) -> None:
    provider = MemoryProvider()
    stack = make_stack(provider)
    stack.create()
    provider.refuse_delete["c-coord-0"] = REFUSAL
    plain = stack.accepted("DELETE", "/v1/clusters/c")
    # another plain delete is refused, naming the way out
    r = stack.client.delete("/v1/clusters/c")
    assert r.status_code == 409 and "force=true" in r.json()["error"]["hint"]
    forced = stack.accepted("DELETE", "/v1/clusters/c?force=true")
    assert stack.wait(forced["id"])["status"] == "COMPLETED"
    assert stack.wait(plain["id"])["status"] == "ABANDONED"
    assert stack.client.get(f"/v1/operations/{plain['id']}").json()["progressMessage"] == (
        "abandoned: superseded by a forced delete")


def test_a_second_forced_delete_while_one_runs_is_refused_in_memory(make_stack) -> None:
    provider = MemoryProvider()
    stack = make_stack(provider)
    stack.create()
    provider.gate.clear()  # the forced delete stays in progress until the second is tried
    forced = stack.accepted("DELETE", "/v1/clusters/c?force=true")
    r = stack.client.delete("/v1/clusters/c?force=true")
    assert r.status_code == 409 and "(forced)" in r.json()["error"]["message"]
    provider.gate.set()
    assert stack.wait(forced["id"])["status"] == "COMPLETED"
