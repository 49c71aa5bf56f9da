"""Alembic migrations, run on a real SQLite file: data written under an older revision
comes out right under the newer one, and back."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from ndovu.store.db import alembic_config


def _desired(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT name, desired FROM clusters")).all())
    finally:
        engine.dispose()


def test_0002_turns_present_into_running_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ndovu.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        for name, desired in (("live", "present"), ("going", "absent")):
            conn.execute(text(
                "INSERT INTO clusters (name, type, plan, status, desired, endpoints, "
                "created_at, updated_at) VALUES (:name, 'zookeeper', '{}', 'RUNNING', "
                ":desired, '{}', '2026-01-01', '2026-01-01')"),
                {"name": name, "desired": desired})
    engine.dispose()

    command.upgrade(cfg, "0002")
    assert _desired(url) == {"live": "running", "going": "absent"}
    command.upgrade(cfg, "head")  # later revisions leave it alone
    assert _desired(url) == {"live": "running", "going": "absent"}

    command.downgrade(cfg, "0001")
    assert _desired(url) == {"live": "present", "going": "absent"}


def test_0004_adds_placement_to_existing_clusters_and_takes_it_away(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ndovu.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0003")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO clusters (name, type, plan, status, desired, endpoints, created_at, "
            "updated_at) VALUES ('old', 'zookeeper', '{}', 'RUNNING', 'running', '{}', "
            "'2026-01-01', '2026-01-01')"))
    command.upgrade(cfg, "0004")
    with engine.connect() as conn:
        # a cluster made before networks existed keeps the provider's own addresses
        assert conn.execute(text("SELECT name, network_name, resource_pool_name FROM "
                                 "clusters")).all() == [("old", None, None)]
        assert conn.execute(text("SELECT count(*) FROM networks")).scalar() == 0
    command.downgrade(cfg, "0003")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, status FROM clusters")).all() == [
            ("old", "RUNNING")]
        tables = {r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))}
    engine.dispose()
    assert not {"networks", "resource_pools", "datastores"} & tables


def test_0005_starts_every_node_from_the_roles_it_runs_and_goes_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ndovu.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0004")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO clusters (id, name, type, plan, status, desired, endpoints, "
            "created_at, updated_at) VALUES (1, 'kv', 'etcd', '{}', 'RUNNING', 'running', "
            "'{}', '2026-01-01', '2026-01-01')"))
        for name, started in (("kv-etcd-0", '["etcd"]'), ("kv-etcd-1", "[]")):
            conn.execute(text(
                "INSERT INTO nodes (cluster_id, name, group_name, \"index\", status, "
                "roles_started, updated_at) VALUES (1, :name, 'etcd', 0, 'SERVICE_READY', "
                ":started, '2026-01-01')"), {"name": name, "started": started})
    engine.dispose()

    command.upgrade(cfg, "0005")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = dict(conn.execute(text(
                "SELECT name, roles_ever_started FROM nodes ORDER BY name")).all())
    finally:
        engine.dispose()
    assert {k: json.loads(v) for k, v in rows.items()} == {"kv-etcd-0": ["etcd"],
                                                          "kv-etcd-1": []}
    command.downgrade(cfg, "0004")
    command.upgrade(cfg, "head")
