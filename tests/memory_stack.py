"""The real engine, store and API (FastAPI TestClient) against the in-memory provider and
scripted roles of tests/engine_doubles.py, for tests that run whole operations in
milliseconds. A test module provides a ``catalog_spec`` fixture (the "layered" type: a
"coord" group whose role provides "coord", a "worker" group that requires it)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ndovu import accounts
from ndovu.api.app import create_app
from ndovu.api.deps import ApiContext
from ndovu.catalog import Catalog
from ndovu.engine import Engine
from ndovu.errors import ConflictError
from ndovu.spec.limits import DEFAULT_LIMITS, ServerLimits
from ndovu.store import Store
from tests.databases import database_url
from tests.engine_doubles import MemoryProvider, ScriptedRole
from tests.helpers import login, wait_until

TERMINAL = {"COMPLETED", "FAILED", "ABANDONED"}


@dataclass
class Stack:
    client: TestClient
    provider: MemoryProvider
    roles: dict[str, ScriptedRole]
    engine: Engine

    def accepted(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A mutating call; asserts the 202 and its Location, returns the operation."""
        r = self.client.request(method, path, **kwargs)
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == f"/v1/operations/{r.json()['id']}"
        return r.json()

    def run(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A mutating call, followed to its end."""
        return self.wait(self.accepted(method, path, **kwargs)["id"])

    def submit_create(self, name: str = "c", **body: Any) -> dict[str, Any]:
        return self.accepted("POST", "/v1/clusters",
                             json={"name": name, "type": "layered", **body})

    def create(self, **body: Any) -> dict[str, Any]:
        """Create cluster "c" and wait until it runs."""
        op = self.wait(self.submit_create(**body)["id"])
        assert op["status"] == "COMPLETED", op
        return op

    def wait(self, op_id: int) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            op = self.client.get(f"/v1/operations/{op_id}").json()
            return op if op["status"] in TERMINAL else None

        return wait_until(done, timeout=20, what=f"operation {op_id}", interval=0.02)

    def events(self, op_id: int) -> list[dict[str, Any]]:
        return self.client.get(f"/v1/operations/{op_id}/events").json()["events"]

    def cluster(self, name: str = "c") -> dict[str, Any]:
        return self.client.get(f"/v1/clusters/{name}").json()

    def nodes(self, name: str = "c") -> dict[str, dict[str, Any]]:
        return {n["name"]: n for g in self.cluster(name)["nodeGroups"]
                for n in g["instances"]}


def _logged_in(client: TestClient, store: Store) -> TestClient:
    """The API under test requires a bearer token like the real server does."""
    with contextlib.suppress(ConflictError):  # a second stack on the same database
        accounts.create_user(store, "tester", "tester-password", is_admin=True)
    client.headers["Authorization"] = f"Bearer {login('', 'tester', 'tester-password', client)}"
    return client


@pytest.fixture
def catalog_dir(tmp_path: Path, catalog_spec: dict[str, Any]) -> Path:
    root = tmp_path / "catalog"
    (root / "specs" / "t").mkdir(parents=True)
    (root / "specs" / "t" / "layered.json").write_text(json.dumps(catalog_spec))
    (root / "specs" / "map").write_text(json.dumps([{
        "name": "layered", "vendor": "Test", "version": ".*", "type": "Layered",
        "path": "t/layered.json"}]))
    return root


@pytest.fixture
def make_stack(tmp_path: Path, catalog_dir: Path) -> Iterator[Callable[..., Stack]]:
    started: list[tuple[Engine, Store]] = []

    def make(provider: MemoryProvider | None = None, *, timeout_s: float = 30.0,
             observe_interval_s: float = 0.0, limits: ServerLimits = DEFAULT_LIMITS,
             **role_options: Any) -> Stack:
        provider = provider or MemoryProvider()
        roles = {
            "coord": ScriptedRole("coord", provides=frozenset({"coord"}),
                                  **role_options.get("coord", {})),
            "worker": ScriptedRole("worker", requires=frozenset({"coord"}),
                                   **role_options.get("worker", {})),
        }
        store = Store(database_url(tmp_path))
        store.migrate()
        engine = Engine(store, provider, roles, bootstrap_timeout_s=timeout_s,
                        observe_interval_s=observe_interval_s)
        app = create_app(ApiContext(
            store=store, catalog=Catalog.load([catalog_dir]),
            validate_plan=engine.validate_plan,
            role_support=lambda names: engine.role_support(names, {"memory": True}),
            notify=engine.wake, scale_refusal=provider.scale_refusal, limits=limits))
        engine.start()
        started.append((engine, store))
        return Stack(_logged_in(TestClient(app), store), provider, roles, engine)

    yield make
    for engine, store in started:
        engine.stop()
        store.dispose()
