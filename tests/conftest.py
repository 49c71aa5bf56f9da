"""Fixtures and markers for the whole suite."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# the test bed of Debian hosts: one session fixture for the whole suite (a second one in
# another folder would wait for the first's machine-wide lock)
from tests.testbed.fixtures import testbed, testbed_hosts  # noqa: F401


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a test on the in-process stack uses the chosen database like the integration tests
    for item in items:
        if "make_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)


@pytest.fixture(scope="session")
def distros_dir() -> Path:
    """A catalog folder holding the depot's distributions that the built-in catalog names
    (the Spark tarball): scripts/build-distros.sh builds it once into ~/.cache/ndovu."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "build-distros.sh"
    built = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                           timeout=900, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    return Path(built.stdout.strip())
