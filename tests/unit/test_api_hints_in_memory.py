"""Error hints name calls of the surface the caller used: a /serengeti/api caller (a
session cookie, no bearer token) is pointed at /serengeti/api, a /v1 caller at /v1.

The real app and engine on the in-memory provider (tests/memory_stack.py); each surface
gets the same refusals: an unknown cluster, start when RUNNING, stop when STOPPED, a
resize of a STOPPED cluster, every mutation of a busy cluster and a second delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

SPEC = {"nodeGroups": [
    {"name": "coord", "roles": ["coord"], "instanceNum": "[1,1,3]", "instanceType": "[SMALL]"},
    {"name": "worker", "roles": ["worker"], "instanceNum": "[1,1,3]",
     "instanceType": "[SMALL]", "cpuNum": "[1,1,4]"},
]}


@pytest.fixture
def catalog_spec() -> dict[str, Any]:
    return SPEC


@dataclass(frozen=True)
class Surface:
    """How a test calls one surface, and the calls its hints must name."""

    name: str
    create: tuple[str, str, Any]
    start: tuple[str, str, Any]
    stop: tuple[str, str, Any]
    resize: tuple[str, str, Any]
    scale: tuple[str, str, Any]
    delete: tuple[str, str, Any]
    show: tuple[str, str, Any]
    # hint texts, formatted with the cluster's name / the operation's id
    follow: str
    clusters: str
    start_hint: str
    stop_hint: str
    other: str  # what a hint of this surface never contains


V1 = Surface(
    name="v1",
    create=("POST", "/v1/clusters", {"name": "{c}", "type": "layered"}),
    start=("POST", "/v1/clusters/{c}/start", None),
    stop=("POST", "/v1/clusters/{c}/stop", None),
    resize=("PUT", "/v1/clusters/{c}/nodegroups/worker/instancenum", {"instanceNum": 2}),
    scale=("PUT", "/v1/clusters/{c}/nodegroups/worker/scale", {"cpuNum": 2}),
    delete=("DELETE", "/v1/clusters/{c}", None),
    show=("GET", "/v1/clusters/{c}", None),
    follow="follow GET /v1/operations/{id}",
    clusters="GET /v1/clusters lists",
    start_hint="POST /v1/clusters/{c}/start",
    stop_hint="POST /v1/clusters/{c}/stop",
    other="/serengeti",
)
SERENGETI = Surface(
    name="serengeti",
    create=("POST", "/serengeti/api/clusters", {"name": "{c}", "type": "layered"}),
    start=("PUT", "/serengeti/api/cluster/{c}/action?state=start", None),
    stop=("PUT", "/serengeti/api/cluster/{c}/action?state=stop", None),
    resize=("PUT", "/serengeti/api/cluster/{c}/nodegroup/worker/instancenum", 2),
    scale=("PUT", "/serengeti/api/cluster/{c}/nodegroup/worker/scale",
           {"clusterName": "{c}", "nodeGroupName": "worker", "cpuNumber": 2}),
    delete=("DELETE", "/serengeti/api/cluster/{c}", None),
    show=("GET", "/serengeti/api/cluster/{c}", None),
    follow="follow GET /serengeti/api/task/{id}",
    clusters="GET /serengeti/api/clusters lists",
    start_hint="PUT /serengeti/api/cluster/{c}/action?state=start",
    stop_hint="PUT /serengeti/api/cluster/{c}/action?state=stop",
    other="/v1/",
)


def _fill(value: Any, cluster: str) -> Any:
    if isinstance(value, str):
        return value.replace("{c}", cluster)
    if isinstance(value, dict):
        return {k: _fill(v, cluster) for k, v in value.items()}
    return value


def _call(client: TestClient, call: tuple[str, str, Any], cluster: str) -> Any:
    method, path, body = call
    kwargs = {} if body is None else {"json": _fill(body, cluster)}
    return client.request(method, _fill(path, cluster), **kwargs)


def _accepted(client: TestClient, call: tuple[str, str, Any], cluster: str) -> int:
    r = _call(client, call, cluster)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _hint(client: TestClient, call: tuple[str, str, Any], cluster: str, status: int,
          surface: Surface) -> str:
    """The refusal's hint; it never names the other surface."""
    r = _call(client, call, cluster)
    assert r.status_code == status, (call, r.text)
    hint = r.json()["error"].get("hint") or ""
    assert surface.other not in hint, (call, hint)
    return hint


@pytest.mark.parametrize("surface", [V1, SERENGETI], ids=lambda s: s.name)
def test_hints_name_the_surface_the_caller_used_in_memory(make_stack,
                                                          surface: Surface) -> None:
    stack = make_stack()
    client = stack.client  # a bearer token for /v1 (and for following operations)
    r = client.post("/serengeti/j_spring_security_check",
                    data={"j_username": "tester", "j_password": "tester-password"})
    assert r.status_code == 200, r.text  # and the session cookie for /serengeti

    for call in (surface.show, surface.start, surface.stop, surface.delete, surface.resize):
        hint = _hint(client, call, "nope", 404, surface)
        assert surface.clusters in hint, (call, hint)

    create = _accepted(client, surface.create, "c")
    assert stack.wait(create)["status"] == "COMPLETED"
    hint = _hint(client, surface.start, "c", 409, surface)
    assert hint == f"stop it first with {_fill(surface.stop_hint, 'c')}"

    assert stack.wait(_accepted(client, surface.stop, "c"))["status"] == "COMPLETED"
    hint = _hint(client, surface.stop, "c", 409, surface)
    assert hint == f"start it with {_fill(surface.start_hint, 'c')}"
    hint = _hint(client, surface.resize, "c", 409, surface)
    assert hint == f"start it first: {_fill(surface.start_hint, 'c')}"

    # busy: with the engine stopped, an accepted start stays in progress
    stack.engine.stop()
    start = _accepted(client, surface.start, "c")
    follow = surface.follow.replace("{id}", str(start))
    for call in (surface.stop, surface.start, surface.resize, surface.scale):
        hint = _hint(client, call, "c", 409, surface)
        assert hint.startswith(f"{follow}, then try again"), (call, hint)
    delete = _accepted(client, surface.delete, "c")  # a delete supersedes the start
    hint = _hint(client, surface.delete, "c", 409, surface)
    # /v1 callers also learn of the forced delete, which BDE's API does not have
    forced = "; if the provider keeps refusing, delete with force=true to give up on what " \
             "it will not delete" if "/v1/" in surface.clusters else ""
    assert hint == surface.follow.replace("{id}", str(delete)) + forced
