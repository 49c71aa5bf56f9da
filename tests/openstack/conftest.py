"""Fixtures of the tests against a real OpenStack control plane (cloud.py): ``cloud``
starts it once per pytest session (with the test bed as its data plane), ``project``
gives a test a connection as the ``ndovu`` user and empties the ``ndovu`` project after
it.

The services run from .venv-openstack (scripts/setup-openstack.sh); the tests, with
openstacksdk, from the project's .venv.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from tests.openstack.cleanup import empty_project
from tests.openstack.cloud import VENV, Cloud
from tests.openstack.nova_testbed import cloud_arguments, remove_server_hosts, server_hosts
from tests.testbed import TestBed


def pytest_configure(config: pytest.Config) -> None:
    # openstacksdk warns about its own internals on most calls
    for category in ("DeprecationWarning", "PendingDeprecationWarning"):
        config.addinivalue_line("filterwarnings", f"ignore::{category}:openstack.*")


@pytest.fixture(scope="session")
def cloud(testbed: TestBed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """The test cloud, once per session: its computes boot servers whose port is on the
    test bed's network as hosts of the session's bed (tests/openstack/nova_testbed),
    others as Nova's fake driver does. After the session no server's host may be left."""
    if not (VENV / "bin" / "uwsgi").exists():
        pytest.skip(f"{VENV} is missing: run bash scripts/setup-openstack.sh")
    started = Cloud(tmp_path_factory.mktemp("openstack"), **cloud_arguments(testbed)).start()
    try:
        yield started
    finally:
        started.stop()
        # hosts live in sessions of their own: a server not deleted outlives its compute
        leftovers = remove_server_hosts(testbed.workdir)
    assert not leftovers, f"servers' hosts left after the test cloud stopped: {leftovers}"


@pytest.fixture
def project(cloud: Cloud) -> Iterator[Connection]:
    """A connection as the ``ndovu`` user (a member of the project ``ndovu``); after the
    test the project is emptied and its quotas lifted again."""
    conn = cloud.connect()
    yield conn
    empty_project(conn)  # servers, and their hosts with them
    cloud.lift_quotas()
    assert server_hosts() == []
