"""Fixtures shared by the unit tests."""

from tests.fake_api import dead_url, fake_api  # noqa: F401  (re-exported fixtures)
from tests.memory_stack import catalog_dir, make_stack  # noqa: F401  (fixtures)
