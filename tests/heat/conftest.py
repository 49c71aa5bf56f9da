"""Fixtures of the Heat plugin tests: the real Heat engine in this process (harness.py)
and real `ndovu server` processes on loopback deploying real clusters.

These tests run in their own virtual environment, .venv-heat (scripts/setup-heat.sh),
because OpenStack Heat pins its own versions of libraries the ndovu server also uses.
The server runs from the project's .venv (``.venv/bin/ndovu``). In an environment
without Heat only the tests of the plugin's Heat-free modules run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import helpers

REPO = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("ndovu") is None:
    # .venv-heat has Heat, not ndovu's server dependencies: the plugin is imported from
    # the source tree, as Heat's plugin_dirs would find it
    sys.path.insert(0, str(REPO / "src"))

if importlib.util.find_spec("heat") is None:
    # the plugin's own modules need no Heat: test_units.py and test_client.py run anywhere
    collect_ignore_glob = ["test_stack_*.py"]
else:
    # before any heat.engine module is imported (Heat's own test base class does this)
    with warnings.catch_warnings():  # futurist imports eventlet, which warns about itself
        warnings.simplefilter("ignore")
        from oslo_service import backend

        backend.init_backend(backend.BackendType.THREADING)

SERVER_BIN = REPO / ".venv" / "bin" / "ndovu"
# loopback subnets of these tests' servers: the shared one, the failure tests' own, the
# one that watches its clusters
MAIN_SUBNET, FAILURE_SUBNET, WATCHING_SUBNET = "127.90.0.0/16", "127.92.0.0/16", "127.93.0.0/16"


def pytest_configure(config: pytest.Config) -> None:
    # Heat 27's own dependencies warn about themselves on import and on every stack thread
    for module in ("futurist", "webob", "oslo_utils", "osc_lib", "heat", "eventlet",
                   "oslo_service", "oslo_messaging", "keystoneauth1", "oslo_db", "paste"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}.*")


def _start_server(state_dir: Path, subnet: str, distros_dir: Path,
                  env: dict[str, str] | None = None) -> helpers.Server:
    if not SERVER_BIN.exists():
        pytest.exit(f"{SERVER_BIN} is missing: run `bash scripts/setup.sh` first", 2)
    # the server runs from the project's venv, not from this one (which has no ndovu);
    # its nodes fetch Spark from the depot folder the tests build
    helpers.NDOVU = SERVER_BIN
    return helpers.Server(state_dir, subnet, catalog_dirs=(distros_dir,), env=env).start()


def _stop_server(server: helpers.Server) -> None:
    server.stop()
    for pid in helpers.processes_under(server.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def ndovu_server(tmp_path_factory: pytest.TempPathFactory,
                 distros_dir: Path) -> Iterator[helpers.Server]:
    server = _start_server(tmp_path_factory.mktemp("ndovu-main") / "state", MAIN_SUBNET,
                           distros_dir)
    yield server
    _stop_server(server)


@pytest.fixture
def fresh_server(tmp_path: Path, distros_dir: Path) -> Iterator[helpers.Server]:
    """A server of its own on a subnet no other test uses (no leftover sockets)."""
    server = _start_server(tmp_path / "state", FAILURE_SUBNET, distros_dir)
    yield server
    _stop_server(server)


@pytest.fixture
def watching_server(tmp_path: Path, distros_dir: Path) -> Iterator[helpers.Server]:
    """A server of its own that looks at its running clusters every second (the shared
    one does not: its tests stop and kill members behind its back)."""
    server = _start_server(tmp_path / "state", WATCHING_SUBNET, distros_dir,
                           env={"NDOVU_OBSERVE_INTERVAL_S": "1"})
    yield server
    _stop_server(server)


@pytest.fixture(scope="session")
def heat(tmp_path_factory: pytest.TempPathFactory,
         ndovu_server: helpers.Server) -> Iterator[object]:
    """The Heat engine, its [ndovu] section pointing at the shared server (the password
    read from the server's initial-admin-password file, as password_file)."""
    from tests.heat import harness

    harness.configure(tmp_path_factory.mktemp("heat"))
    engine = harness.HeatEngine()
    from oslo_config import cfg

    cfg.CONF.set_override("endpoint", ndovu_server.url, group="ndovu")
    cfg.CONF.set_override("username", "admin", group="ndovu")
    cfg.CONF.set_override("password_file", str(ndovu_server.state_dir /
                                               "initial-admin-password"), group="ndovu")
    yield engine
    engine.stop()
