"""Fixtures of the tests against a real OpenStack control plane (cloud.py): ``cloud``
starts it once per pytest session, ``project`` gives a test a connection as the ``ndovu``
user and empties the ``ndovu`` project after it.

The services run from .venv-openstack (scripts/setup-openstack.sh); the tests, with
openstacksdk, from the project's .venv.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from tests.openstack.cleanup import empty_project
from tests.openstack.cloud import VENV, Cloud


def pytest_configure(config: pytest.Config) -> None:
    # openstacksdk warns about its own internals on most calls
    for category in ("DeprecationWarning", "PendingDeprecationWarning"):
        config.addinivalue_line("filterwarnings", f"ignore::{category}:openstack.*")


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    if not (VENV / "bin" / "uwsgi").exists():
        pytest.skip(f"{VENV} is missing: run bash scripts/setup-openstack.sh")
    started = Cloud(tmp_path_factory.mktemp("openstack")).start()
    yield started
    started.stop()


@pytest.fixture
def project(cloud: Cloud) -> Iterator[Connection]:
    """A connection as the ``ndovu`` user (a member of the project ``ndovu``); after the
    test the project is emptied and its quotas lifted again."""
    conn = cloud.connect()
    yield conn
    empty_project(conn)
    cloud.lift_quotas()
