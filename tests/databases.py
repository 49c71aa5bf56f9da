"""Throw-away databases for tests, so the same tests run on every database ndovu supports.

``NDOVU_TEST_DATABASE`` picks the kind: ``sqlite`` (the default: a file in the state
directory), ``postgresql`` or ``mariadb`` (the servers on 127.0.0.1 this machine runs; a
database of its own per state directory, dropped when the test run ends).
"""

from __future__ import annotations

import atexit
import os
import secrets
from pathlib import Path

from sqlalchemy import create_engine, text

KIND = os.environ.get("NDOVU_TEST_DATABASE", "sqlite")
# the servers' administrative URLs (trust / empty-password root on loopback, see env)
ADMIN_URLS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1/mysql",
}
_made: dict[Path, str] = {}


def _admin(kind: str, statement: str) -> None:
    engine = create_engine(ADMIN_URLS[kind], isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def new_database(kind: str) -> str:
    """A new empty database of this kind; its URL. Dropped when the test run ends."""
    name = f"ndovu_test_{secrets.token_hex(4)}"
    _admin(kind, f"CREATE DATABASE {name}")
    atexit.register(_drop, kind, name)
    base = ADMIN_URLS[kind].rsplit("/", 1)[0]
    return f"{base}/{name}"


def _drop(kind: str, name: str) -> None:
    force = " WITH (FORCE)" if kind == "postgresql" else ""
    _admin(kind, f"DROP DATABASE IF EXISTS {name}{force}")


def database_url(state_dir: Path, kind: str = KIND) -> str:
    """The database of the server whose state directory this is (the same one when that
    server is started again)."""
    if kind == "sqlite":
        return f"sqlite:///{state_dir / 'ndovu.db'}"
    if kind not in ADMIN_URLS:
        raise ValueError(f"NDOVU_TEST_DATABASE={kind!r}: use sqlite, postgresql or mariadb")
    key = state_dir.resolve()
    if key not in _made:
        _made[key] = new_database(kind)
    return _made[key]
