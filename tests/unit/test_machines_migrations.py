"""Migration 0007 (machines), on SQLite and the real PostgreSQL and MariaDB servers: a
database of revision 0006 keeps its data, gains the machines table, and goes back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from ndovu.store.db import alembic_config
from ndovu.store.models import Machine
from tests.databases import database_url

AT = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_0007_adds_the_machines_table_and_takes_it_away(tmp_path: Path, kind: str) -> None:
    url = database_url(tmp_path, kind)
    cfg = alembic_config(url)
    command.upgrade(cfg, "0006")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            # literals only: the columns revision 0006 has, whatever the models say now
            conn.execute(text(
                "INSERT INTO clusters (name, type, plan, status, desired, endpoints, "
                "created_at, updated_at) VALUES ('old', 'etcd', '{}', 'RUNNING', "
                "'running', '{}', '2026-01-01', '2026-01-01')"))
        assert "machines" not in inspect(engine).get_table_names()

        command.upgrade(cfg, "0007")
        machines = Machine.__table__
        row = {"name": "m1", "address": "10.0.0.1", "port": 22, "user": "root",
               "private_key": "KEY", "labels": {"rack": "r1"}, "powered_on": False,
               "created_at": AT}
        with engine.begin() as conn:
            conn.execute(insert(machines).values(**row))
            # two free machines: a NULL node name is not a duplicate
            conn.execute(insert(machines).values(**row | {"name": "m2",
                                                           "address": "10.0.0.2"}))
            assert conn.execute(text("SELECT name FROM clusters")).scalars().all() == ["old"]
            got = conn.execute(select(machines.c.name, machines.c.labels,
                                      machines.c.node_name, machines.c.host_key)
                               .order_by(machines.c.name)).all()
        assert [tuple(r) for r in got] == [("m1", {"rack": "r1"}, None, None),
                                           ("m2", {"rack": "r1"}, None, None)]
        for duplicate in ({"name": "m1", "address": "10.0.0.3"},
                          {"name": "m3", "address": "10.0.0.1"}):
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(insert(machines).values(**row | duplicate))

        command.downgrade(cfg, "0006")
        assert "machines" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM clusters")).scalars().all() == ["old"]
        command.upgrade(cfg, "head")
        assert "machines" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
