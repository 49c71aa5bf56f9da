"""Fixtures shared by the unit tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ndovu.store import Store
from tests.databases import database_url
from tests.fake_api import dead_url, fake_api  # noqa: F401  (re-exported fixtures)
from tests.memory_stack import catalog_dir, make_stack  # noqa: F401  (fixtures)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated store on the database NDOVU_TEST_DATABASE names (SQLite by default)."""
    store = Store(database_url(tmp_path))
    store.migrate()
    yield store
    store.dispose()
