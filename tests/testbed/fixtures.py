"""pytest fixtures of the test bed, for the integration tests' conftest files:

    from tests.testbed.fixtures import testbed, testbed_hosts  # noqa: F401

``testbed`` (session): a started :class:`TestBed` in a temporary folder, closed at the end
of the session. ``testbed_hosts`` (per test): ``testbed_hosts(3)`` starts three new hosts
and stops them after the test. ``hosts = module_hosts(3, "fault")`` in a test module gives
its tests the same three hosts, stopped after the module; :func:`start_hosts` starts
hosts for fixtures of other kinds. Tests using them should carry
``@pytest.mark.integration`` and ``@pytest.mark.testbed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.testbed.bed import TestBed
from tests.testbed.host import Host

MARKER = "testbed: uses the test bed of Debian hosts (root; scripts/setup-testbed.sh)"


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``testbed`` marker (for conftest files that import this hook)."""
    config.addinivalue_line("markers", MARKER)


def start_hosts(bed: TestBed, count: int, prefix: str = "host") -> list[Host]:
    """Start ``count`` new hosts named ``<prefix>-<n>`` (n avoiding names in use), their
    boots overlapping; return them when every sshd answers."""
    names: list[str] = []
    number = 1
    while len(names) < count:
        name = f"{prefix}-{number}"
        if name not in bed.hosts:
            names.append(name)
        number += 1
    return bed.add_hosts(names)


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    """A started test bed for the whole session (skipped when not root)."""
    if os.geteuid() != 0:
        pytest.skip("the test bed needs root")
    with TestBed(tmp_path_factory.mktemp("testbed")) as bed:
        yield bed


@pytest.fixture
def testbed_hosts(testbed: TestBed) -> Iterator[Callable[..., list[Host]]]:
    """``testbed_hosts(count, prefix="host")`` starts hosts that stop after the test."""
    made: list[Host] = []

    def make(count: int, prefix: str = "host") -> list[Host]:
        hosts = start_hosts(testbed, count, prefix)
        made.extend(hosts)
        return hosts

    yield make
    for host in made:
        testbed.stop_host(host)


def module_hosts(count: int, prefix: str) -> Callable[..., Iterator[list[Host]]]:
    """A module-scoped fixture: ``count`` hosts named ``<prefix>-<n>``, stopped after the
    module's tests."""

    @pytest.fixture(scope="module")
    def hosts(testbed: TestBed) -> Iterator[list[Host]]:
        made = start_hosts(testbed, count, prefix)
        yield made
        for host in made:
            testbed.stop_host(host)

    return hosts
