"""What the routes need from the process, injected by the composition root (ndovu.server)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ndovu.catalog import Catalog
from ndovu.spec.model import ClusterPlan
from ndovu.store.db import Store


@dataclass
class ApiContext:
    store: Store
    catalog: Catalog
    # raises SpecError when the engine cannot run a plan (unknown or unsupported roles)
    validate_plan: Callable[[ClusterPlan], None]
    # for the catalog: where a type with these roles runs, whether it can run here and why
    # not, and each role's settings (a plain dict, see engine.planner.role_support)
    role_support: Callable[[Sequence[str]], dict[str, Any]]
    # tells the engine that new work is waiting (no-op when the engine runs elsewhere)
    notify: Callable[[], None]
    # why this server's provider cannot change a node's CPU or memory (refused scale
    # requests say so); None when it can
    scale_refusal: str | None = None


def context(request: Request) -> ApiContext:
    return request.app.state.ndovu
