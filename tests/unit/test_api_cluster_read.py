"""GET /v1/clusters/{name}, the hot read path (ndovu.api.reads, ndovu.api.reading).

The real app and engine on the in-memory provider (tests/memory_stack.py), with a second
Store on the same SQLite file standing for another process sharing the database (another
API process, or the engine): what it changes or revokes is seen by the very next request.
The route skips FastAPI's response validation, so the view is held to ClusterRead here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, update

from ndovu import accounts
from ndovu.api import reads
from ndovu.api.reading import Reader
from ndovu.api.schemas import ClusterRead
from ndovu.errors import NotFoundError
from ndovu.spec.model import ClusterPlan
from ndovu.store import Store
from ndovu.store.models import Cluster, Node
from tests.databases import database_url
from tests.memory_stack import Stack

SPEC = {"nodeGroups": [
    {"name": "coord", "roles": ["coord"], "instanceNum": "[1,1,3]", "instanceType": "[SMALL]"},
    {"name": "worker", "roles": ["worker"], "instanceNum": "[2,1,3]",
     "instanceType": "[SMALL]"},
]}


@pytest.fixture
def catalog_spec() -> dict[str, Any]:
    return SPEC


@pytest.fixture
def other_process(tmp_path: Path) -> Iterator[Store]:
    """Another Store on the stack's database, as another process would open it."""
    store = Store(database_url(tmp_path))
    yield store
    store.dispose()


def _held_to_the_model(view: dict[str, Any]) -> None:
    # what FastAPI's response validation would have sent: the very same document
    assert ClusterRead.model_validate(view).model_dump(mode="json") == view


def test_the_view_is_what_the_response_model_would_send(
        make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(worker={"start_error": "worker refused to start"})
    op = stack.wait(stack.submit_create()["id"])
    assert op["status"] == "FAILED"
    r = stack.client.get("/v1/clusters/c")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    view = r.json()
    _held_to_the_model(view)
    assert view["operation"]["id"] == op["id"] and view["operation"]["status"] == "FAILED"
    groups = {g["name"]: g for g in view["nodeGroups"]}
    assert [n["name"] for n in groups["coord"]["instances"]] == ["c-coord-0"]
    workers = groups["worker"]["instances"]
    assert [n["name"] for n in workers] == ["c-worker-0", "c-worker-1"]
    assert all(n["errMessage"] and "refused to start" in n["errMessage"] for n in workers)
    assert view["links"] == {"self": "/v1/clusters/c", "cluster": None}


def test_a_cluster_without_operations_or_nodes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bare.db'}")
    store.migrate()
    plan = ClusterPlan.from_dict({"name": "quiet", "type": "custom", "groups": [],
                                  "configuration": {"k": "v"}})
    with store.session() as s:
        s.add(Cluster(name="quiet", type="custom", plan=plan.to_dict(), status="RUNNING"))
    with store.engine.connect() as conn:
        view = reads.cluster(conn, "quiet")
        with pytest.raises(NotFoundError, match="no cluster named 'nope'"):
            reads.cluster(conn, "nope")
    store.dispose()
    _held_to_the_model(view)
    assert view["operation"] is None and view["nodeGroups"] == []
    assert view["configuration"] == {"k": "v"}


def test_a_change_by_another_process_is_seen_by_the_next_request(
        make_stack: Callable[..., Stack], other_process: Store) -> None:
    stack = make_stack()
    stack.create()
    before = stack.cluster()
    assert before["status"] == "RUNNING"
    with other_process.session() as s:
        s.execute(update(Node).where(Node.name == "c-worker-1")
                  .values(status="BOOTSTRAP_FAILED", error_message="disk on fire"))
        s.execute(update(Cluster).where(Cluster.name == "c").values(status="ERROR"))
    after = stack.cluster()
    assert after["status"] == "ERROR"
    node = stack.nodes()["c-worker-1"]
    assert (node["status"], node["errMessage"]) == ("BOOTSTRAP_FAILED", "disk on fire")
    # a new operation is the one shown at once
    stop = stack.run("POST", "/v1/clusters/c/stop")
    assert stack.cluster()["operation"]["id"] == stop["id"] != before["operation"]["id"]


def test_a_token_revoked_by_another_process_is_refused_at_once(
        make_stack: Callable[..., Stack], other_process: Store) -> None:
    stack = make_stack()
    client = stack.client
    assert client.get("/v1/clusters/nope").status_code == 404  # authenticated
    token = client.headers["Authorization"].removeprefix("Bearer ")
    accounts.revoke_token(other_process, token)
    r = client.get("/v1/clusters/nope")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    # a new password, set elsewhere, ends every token of the user at once too
    principal = accounts.authenticate(other_process, "tester", "tester-password", "127.0.0.1")
    token, _ = accounts.issue_token(other_process, principal, accounts.BEARER)
    client.headers["Authorization"] = f"Bearer {token}"
    assert client.get("/v1/clusters/nope").status_code == 404
    accounts.set_password(other_process, "tester", "another-password")
    assert client.get("/v1/clusters/nope").status_code == 401


def _where(conn: Connection, tag: str) -> tuple[str, int, Connection]:
    return tag, threading.get_ident(), conn


def test_sqlite_reads_run_on_the_loop_on_one_kept_connection(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    reader = Reader(store.engine)
    assert reader.inline

    async def twice() -> list[tuple[str, int, Connection]]:
        return [await reader(_where, "a"), await reader(_where, tag="b")]

    first, second = asyncio.run(twice())
    assert first[:2] == ("a", threading.get_ident()) and second[:2] == ("b", first[1])
    assert first[2] is second[2]  # kept, not taken from the pool again
    assert not first[2].in_transaction()  # each read ends its transaction
    reader.close()
    store.dispose()


def test_a_second_thread_does_not_wait_for_the_kept_connection(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    reader = Reader(store.engine)
    seen: list[Connection] = []

    def from_another_thread(conn: Connection) -> None:
        # the kept connection is in use on this thread's loop: the other thread's read
        # takes a pooled one and does not wait
        other = threading.Thread(target=lambda: seen.append(
            asyncio.run(reader(lambda c: c))))
        other.start()
        other.join(10)
        seen.append(conn)

    asyncio.run(reader(from_another_thread))
    assert len(seen) == 2 and seen[0] is not seen[1]
    reader.close()
    store.dispose()


def test_server_database_reads_run_in_the_thread_pool(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    reader = Reader(store.engine)
    reader.inline = False  # as for PostgreSQL and MariaDB
    tag, thread, _ = asyncio.run(reader(_where, "pooled"))
    assert tag == "pooled" and thread != threading.get_ident()
    store.dispose()
