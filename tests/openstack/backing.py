"""What the test cloud keeps outside its folder: databases on the machine's MariaDB and a
virtual host on its RabbitMQ, named uniquely per start so that runs side by side (or a
crashed run's leftovers) never meet, and removed at stop.

MariaDB, not SQLite: with SQLite Neutron's migrations fail and concurrent boots hit
"database is locked".
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
from collections.abc import Iterator

import pymysql

MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
RABBITMQ = {"host": "127.0.0.1", "port": 5672, "user": "guest", "password": "guest"}


class Backing:
    """The databases and the RabbitMQ virtual host of one start of the test cloud."""

    def __init__(self, databases: tuple[str, ...]) -> None:
        self.prefix = f"ndovu_os_{secrets.token_hex(4)}_"
        self.names = {name: self.prefix + name for name in databases}
        self.vhost = self.prefix.rstrip("_")
        self._made_databases: list[str] = []
        self._made_vhost = False

    def database_url(self, name: str) -> str:
        m = MARIADB
        return (f"mysql+pymysql://{m['user']}:{m['password']}@{m['host']}:{m['port']}/"
                f"{self.names[name]}?charset=utf8")

    @property
    def transport_url(self) -> str:
        r = RABBITMQ
        return f"rabbit://{r['user']}:{r['password']}@{r['host']}:{r['port']}/{self.vhost}"

    def create_databases(self) -> None:
        with _mariadb() as cursor:
            for name in self.names.values():
                cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8")
                self._made_databases.append(name)

    def create_vhost(self) -> None:
        _rabbitmqctl("add_vhost", self.vhost)
        self._made_vhost = True
        _rabbitmqctl("set_permissions", "-p", self.vhost, RABBITMQ["user"], ".*", ".*", ".*")

    def remove(self) -> None:
        """Drop what this start made (only that: safe after a partial start)."""
        if self._made_databases:
            with _mariadb() as cursor:
                for name in self._made_databases:
                    cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            self._made_databases.clear()
        if self._made_vhost:
            _rabbitmqctl("delete_vhost", self.vhost)
            self._made_vhost = False


@contextlib.contextmanager
def _mariadb() -> Iterator[pymysql.cursors.Cursor]:
    try:
        connection = pymysql.connect(**MARIADB, autocommit=True, connect_timeout=5)
    except pymysql.err.OperationalError as e:
        raise RuntimeError(f"the test cloud needs MariaDB on {MARIADB['host']}:"
                           f"{MARIADB['port']} (root, empty password): {e}") from e
    with connection, connection.cursor() as cursor:
        yield cursor


def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the test cloud needs RabbitMQ (rabbitmqctl as root): "
                           f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
