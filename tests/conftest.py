"""Fixtures and markers for the whole suite."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # a test on the in-process stack uses the chosen database like the integration tests
    for item in items:
        if "make_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
