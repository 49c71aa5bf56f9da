"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ndovu.providers.local import LocalProvider
from ndovu.transports.local import stop_all_services


@pytest.fixture
def provider(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LocalProvider]:
    """A local provider on the test module's own ``SUBNET`` (a module may override this);
    whatever a test started is stopped afterwards, even when it failed half-way."""
    provider = LocalProvider(tmp_path / "state", subnet=request.module.SUBNET)
    yield provider
    for node_dir in provider.nodes_dir.iterdir():
        if node_dir.is_dir():
            stop_all_services(node_dir, timeout=10)
