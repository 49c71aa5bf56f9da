"""What a loaded catalog holds: cluster types, and the problems found while loading."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ndovu.spec.model import ClusterSpec, RoleSoftware


@dataclass(frozen=True)
class CatalogProblem:
    """One bad file or entry; ``field`` locates it inside the file when known."""

    path: str
    field: str | None
    message: str


@dataclass(frozen=True)
class CatalogType:
    """A cluster type: a map entry with its parsed spec and matching distro."""

    name: str  # short id used by the API, e.g. "zookeeper"
    display_type: str  # BDE's "type", e.g. "ZooKeeper Ensemble"
    vendor: str
    version: str  # a regex, as in BDE's map
    app_manager: str
    path: str  # spec file, relative to specs/
    spec_file: str  # the spec file's absolute path, for problem reports
    description: str
    spec: ClusterSpec
    distro: dict[str, Any] | None
    roles: tuple[str, ...]
    # role -> its software as the distro's manifest names it (packages, depot tarballs)
    software: Mapping[str, RoleSoftware] = field(default_factory=dict)
    # why the distro's software cannot be installed (a tarball not in the depot), or None
    software_problem: str | None = None



def type_slug(display_type: str) -> str:
    """"Basic Mesos Cluster" -> "basic_mesos_cluster"."""
    return re.sub(r"[^a-z0-9]+", "_", display_type.lower()).strip("_")
