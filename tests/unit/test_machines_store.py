"""The machines inventory in the store (``ndovu.store.machines``), on SQLite and on the
real PostgreSQL and MariaDB servers of this machine: claims are idempotent and exclusive,
release frees, the host key is pinned once, and the API's count refuses what cannot fit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ndovu.errors import ConflictError, NotFoundError, ProviderError, SpecError
from ndovu.providers.machines import Machine
from ndovu.store import Store
from ndovu.store import machines as store_machines
from ndovu.store.machines import StoreInventory
from ndovu.store.models import Cluster, Node
from ndovu.store.models import Machine as MachineRow
from tests.databases import database_url

KINDS = ["sqlite", "postgresql", "mariadb"]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot checked by the store\n" \
      "-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store = Store(database_url(tmp_path, request.param))
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(database_url(tmp_path, "sqlite"))
    store.migrate()
    yield store
    store.dispose()


def add(store: Store, *names: str) -> None:
    with store.session() as s:
        for i, name in enumerate(names):
            store_machines.add_machine(s, name=name, address=f"10.0.{len(name)}.{i + 1}",
                                       port=22, user="root", private_key=KEY,
                                       labels={"rack": "r1"})


def inventory(store: Store) -> StoreInventory[Machine]:
    return StoreInventory(store, Machine)


def test_a_claim_is_recorded_and_idempotent(store: Store) -> None:
    add(store, "m1", "m2")
    inv = inventory(store)
    first = inv.claim("c1", "c1-worker-0", "worker", 0)
    assert (first.cluster, first.node, first.group, first.index) == (
        "c1", "c1-worker-0", "worker", 0)
    assert first.powered_on is False  # not provisioned until the provider says so
    assert first.private_key == KEY and "PRIVATE" not in repr(first)
    again = inv.claim("c1", "c1-worker-0", "worker", 0)
    assert again.name == first.name
    second = inv.claim("c1", "c1-worker-1", "worker", 1)
    assert second.name != first.name
    assert [m.node for m in inv.assigned("c1")] == ["c1-worker-0", "c1-worker-1"]
    assert inv.assigned("other") == []


def test_a_node_of_another_cluster_is_not_claimed_again(store: Store) -> None:
    add(store, "m1", "m2")
    inv = inventory(store)
    inv.claim("c1", "shared-name", "g", 0)
    with pytest.raises(ProviderError, match="for cluster c1, not c2"):
        inv.claim("c2", "shared-name", "g", 0)


def test_a_claim_when_none_is_free_says_how_many_exist_and_what_to_do(store: Store) -> None:
    inv = inventory(store)
    with pytest.raises(ProviderError) as none_at_all:
        inv.claim("c1", "c1-g-0", "g", 0)
    assert "0 machines registered" in none_at_all.value.message
    assert not none_at_all.value.retryable
    add(store, "m1")
    inv.claim("c1", "c1-g-0", "g", 0)
    with pytest.raises(ProviderError) as full:
        inv.claim("c1", "c1-g-1", "g", 1)
    assert "no free machine for node c1-g-1 of cluster c1" in full.value.message
    assert "1 machine registered" in full.value.message
    assert "ndovu machine add" in (full.value.hint or "")
    assert not full.value.retryable


def test_release_frees_the_machine_and_is_idempotent(store: Store) -> None:
    add(store, "m1")
    inv = inventory(store)
    claimed = inv.claim("c1", "c1-g-0", "g", 0)
    inv.set_power("c1", "c1-g-0", True)
    with pytest.raises(ProviderError, match="belongs to cluster c1, not c2"):
        inv.release("c2", "c1-g-0")
    inv.release("c1", "c1-g-0")
    inv.release("c1", "c1-g-0")
    assert inv.assigned("c1") == []
    with store.session() as s:
        assert store_machines.free_machines(s) == 1
    again = inv.claim("c2", "c2-g-0", "g", 0)
    assert again.name == claimed.name and again.cluster == "c2"


def test_set_power_records_the_node_state(store: Store) -> None:
    add(store, "m1")
    inv = inventory(store)
    inv.claim("c1", "c1-g-0", "g", 0)
    assert inv.set_power("c1", "c1-g-0", True).powered_on is True
    assert inv.assigned("c1")[0].powered_on is True
    assert inv.set_power("c1", "c1-g-0", False).powered_on is False
    with pytest.raises(ProviderError, match="on no machine"):
        inv.set_power("c1", "c1-g-9", True)


def test_the_host_key_is_recorded_only_once(store: Store) -> None:
    add(store, "m1")
    inv = inventory(store)
    inv.record_host_key("m1", "ssh-ed25519 AAAAfirst")
    inv.record_host_key("m1", "ssh-ed25519 AAAAsecond")
    assert inv.claim("c1", "c1-g-0", "g", 0).host_key == "ssh-ed25519 AAAAfirst"


def test_concurrent_claims_never_give_one_machine_twice(store: Store) -> None:
    machines = [f"m{i:02d}" for i in range(6)]
    add(store, *machines)
    inv = inventory(store)
    got: dict[str, str] = {}
    errors: list[ProviderError] = []
    lock = threading.Lock()
    start = threading.Barrier(10)

    def claim(i: int) -> None:
        node = f"c1-g-{i}"
        start.wait()
        for _ in range(50):  # a retryable refusal (the free ones are busy) is tried again
            try:
                machine = inv.claim("c1", node, "g", i)
            except ProviderError as exc:
                if exc.retryable:
                    continue
                with lock:
                    errors.append(exc)
                return
            with lock:
                got[node] = machine.name
            return

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 6 and len(errors) == 4, (got, errors)
    assert sorted(got.values()) == machines  # each machine to one node
    assert all("no free machine" in e.message for e in errors)
    assert {m.node: m.name for m in inv.assigned("c1")} == got


def test_the_api_count_refuses_more_nodes_than_free_machines(sqlite_store: Store) -> None:
    add(sqlite_store, "m1", "m2", "m3")
    inventory(sqlite_store).claim("old", "old-g-0", "g", 0)
    with sqlite_store.session() as s:
        store_machines.check_free_machines(s, cluster="c1", new_nodes=2)
        # a cluster whose nodes wait for machines holds them already
        cluster = Cluster(name="c1", type="t", plan={}, status="PROVISIONING",
                          desired="running", endpoints={})
        s.add(cluster)
        s.flush()
        s.add(Node(cluster_id=cluster.id, name="c1-g-0", group_name="g", index=0,
                   status="NOT_EXIST", roles_started=[]))
    with sqlite_store.session() as s, pytest.raises(SpecError) as refused:
        store_machines.check_free_machines(s, cluster="c2", new_nodes=2, field="nodeGroups")
    assert refused.value.field == "nodeGroups"
    assert "needs 2 more machines, but 1 of the 3 machines registered is free" in \
        refused.value.message
    assert "promised to nodes not yet placed" in refused.value.message
    assert "ndovu machine add" in (refused.value.hint or "")
    with sqlite_store.session() as s:
        store_machines.check_free_machines(s, cluster="c2", new_nodes=1)
        store_machines.check_free_machines(s, cluster="c2", new_nodes=0)


def test_add_get_and_delete_for_the_api(sqlite_store: Store) -> None:
    add(sqlite_store, "m1")
    with sqlite_store.session() as s, pytest.raises(ConflictError, match=r"'m1'.*name"):
        store_machines.add_machine(s, name="m1", address="10.9.9.9", port=22, user="root",
                                   private_key=KEY, labels={})
    with sqlite_store.session() as s, pytest.raises(ConflictError, match="address"):
        store_machines.add_machine(s, name="m9", address="10.0.2.1", port=22, user="root",
                                   private_key=KEY, labels={})
    inventory(sqlite_store).claim("c1", "c1-g-0", "g", 0)
    with sqlite_store.session() as s, pytest.raises(ConflictError) as busy:
        store_machines.delete_machine(s, "m1")
    assert "node c1-g-0 of cluster 'c1'" in busy.value.message
    inventory(sqlite_store).release("c1", "c1-g-0")
    with sqlite_store.session() as s:
        store_machines.delete_machine(s, "m1")
    with sqlite_store.session() as s:
        assert s.scalars(select(MachineRow)).all() == []
        with pytest.raises(NotFoundError):
            store_machines.get_machine(s, "m1")
