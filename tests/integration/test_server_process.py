"""`ndovu server` refuses, with a clear message, what would make two engines collide."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.helpers import NDOVU, Server, free_port

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration


def _second_server(state_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDOVU_")}
    return subprocess.run([str(NDOVU), "server", "--state-dir", str(state_dir),
                           "--port", str(port)], capture_output=True, text=True, timeout=60,
                          env=env)


@pytest.fixture
def server(tmp_path: Path):
    srv = Server(tmp_path / "state", subnet="127.63.0.0/16").start()
    yield srv
    srv.stop()


def test_a_second_server_on_the_same_state_dir_is_refused(server: Server) -> None:
    result = _second_server(server.state_dir, free_port())
    assert result.returncode == 1
    assert "already using the state directory" in result.stderr
    assert str(server.proc.pid) in result.stderr


def test_a_taken_port_is_refused_before_anything_starts(server: Server,
                                                        tmp_path: Path) -> None:
    other = tmp_path / "other"
    result = _second_server(other, server.port)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.stderr
    assert not (other / "ndovu.db").exists()  # nothing was created


def test_the_state_dir_and_its_database_are_the_owners_only(tmp_path: Path) -> None:
    # made loose before this rule: a started server tightens them
    state = tmp_path / "loose"
    state.mkdir()
    state.chmod(0o755)
    sqlite3.connect(state / "ndovu.db").close()  # an empty database, world-readable
    (state / "ndovu.db").chmod(0o644)
    env = {"NDOVU_DATABASE_URL": f"sqlite:///{state / 'ndovu.db'}"}
    srv = Server(state, subnet="127.63.0.0/16", env=env).start()
    try:
        modes = {p.name: p.stat().st_mode & 0o777 for p in state.iterdir()
                 if p.name.startswith("ndovu.db")}
        assert state.stat().st_mode & 0o777 == 0o700
        assert modes and set(modes.values()) == {0o600}, modes  # with its -wal and -shm
        assert (state / "initial-admin-password").stat().st_mode & 0o777 == 0o600
    finally:
        srv.stop()
