"""The store on every database ndovu supports: SQLite, and the real PostgreSQL and MariaDB
servers of this machine (a throw-away database each). Migrations from an older schema keep
the data; engine leases are exclusive under concurrent claims."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select

from ndovu.engine.leases import Leases
from ndovu.store import Store
from ndovu.store.db import alembic_config
from ndovu.store.models import Cluster, Event, Node, Operation
from tests.databases import database_url

KINDS = ["sqlite", "postgresql", "mariadb"]


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(tmp_path, request.param)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()


def test_a_database_of_revision_0005_upgrades_with_its_data_and_back(url: str) -> None:
    cfg = alembic_config(url)
    command.upgrade(cfg, "0005")
    engine = create_engine(url)
    # the models' tables, for their column types (MariaDB reflects JSON as LONGTEXT); an
    # insert names only the columns revision 0005 has
    clusters, nodes, operations, events = (m.__table__ for m in (
        Cluster, Node, Operation, Event))
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        cluster_id = conn.execute(insert(clusters).values(
            name="kv", type="etcd", plan={"name": "kv"}, status="PROVISIONING",
            desired="running", endpoints={}, created_at=at,
            updated_at=at)).inserted_primary_key[0]
        conn.execute(insert(nodes).values(
            cluster_id=cluster_id, name="kv-etcd-0", group_name="etcd", index=0,
            status="VM_READY", roles_started=["etcd"], roles_ever_started=["etcd"],
            updated_at=at))
        op_id = conn.execute(insert(operations).values(
            cluster_id=cluster_id, target="kv", type="CREATE", status="STARTED", progress=40,
            succeed_nodes=[], fail_nodes=[], created_at=at)).inserted_primary_key[0]
        conn.execute(insert(events).values(operation_id=op_id, cluster="kv",
                                           step="provision", outcome="ok", at=at))
    engine.dispose()

    command.upgrade(cfg, "head")
    engine = create_engine(url)
    with engine.connect() as conn:
        # an operation in flight under the old schema is free for any engine to claim
        assert conn.execute(select(clusters.c.name, clusters.c.status,
                                   clusters.c.lease_holder)).all() == [
            ("kv", "PROVISIONING", None)]
        assert conn.execute(select(nodes.c.name, nodes.c.roles_started)).all() == [
            ("kv-etcd-0", ["etcd"])]
        assert conn.execute(select(events.c.step, events.c.engine)).all() == [
            ("provision", None)]
        # an operation of the old schema was never a forced delete
        assert conn.execute(select(operations.c.type, operations.c.force)).all() == [
            ("CREATE", False)]
    engine.dispose()
    command.downgrade(cfg, "0005")
    command.upgrade(cfg, "head")


def test_a_lease_is_held_by_one_engine_until_it_expires_or_is_released(store: Store) -> None:
    now = [1000.0]
    a = Leases(store, "engine-a", ttl_s=15, clock=lambda: now[0])
    b = Leases(store, "engine-b", ttl_s=15, clock=lambda: now[0])
    with store.session() as s:
        for name in ("one", "two"):
            s.add(Cluster(name=name, type="t", plan={}, status="PROVISIONING"))
    with store.session() as s:
        one, two = s.scalars(select(Cluster.id).order_by(Cluster.name)).all()

    assert [c.cluster for c in a.claim([one])] == ["one"]
    assert [c.cluster for c in b.claim([one, two])] == ["two"]  # only the free one
    now[0] += 10
    assert b.renew([two]) == {two}
    assert [c.cluster for c in a.claim([one])] == ["one"]  # its own: claiming renews it
    assert b.claim([one]) == []
    assert a.renew([one, two]) == {one}
    now[0] += 16  # a died: its lease ran out
    taken = b.claim([one])
    assert [(c.cluster, c.took_over_from) for c in taken] == [("one", "engine-a")]
    assert a.renew([one]) == set()
    b.release()
    assert [c.took_over_from for c in a.claim([one, two])] == [None, None]


def test_concurrent_claims_never_give_one_cluster_to_two_engines(store: Store) -> None:
    with store.session() as s:
        for i in range(20):
            s.add(Cluster(name=f"c{i}", type="t", plan={}, status="PROVISIONING"))
    with store.session() as s:
        ids = s.scalars(select(Cluster.id)).all()
    engines = [Leases(store, f"engine-{i}", ttl_s=60) for i in range(4)]
    won: dict[str, list[int]] = {}
    barrier = threading.Barrier(len(engines))

    def claim(leases: Leases) -> None:
        barrier.wait()
        won[leases.holder] = []
        for _ in range(5):  # again and again: a cluster once won stays with its winner
            won[leases.holder] += [c.cluster_id for c in leases.claim(ids)]

    threads = [threading.Thread(target=claim, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners: dict[int, set[str]] = {}
    for holder, claimed in won.items():
        for cluster_id in claimed:
            winners.setdefault(cluster_id, set()).add(holder)
    assert all(len(holders) == 1 for holders in winners.values()), winners
    assert set(winners) == set(ids)  # every cluster went to someone
    with store.session() as s:
        held = dict(s.execute(select(Cluster.id, Cluster.lease_holder)).all())
    assert {cid: next(iter(h)) for cid, h in winners.items()} == held
