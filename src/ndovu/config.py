"""Server settings: one TOML file plus ``NDOVU_*`` environment variables.

Precedence, lowest first: built-in defaults, the TOML file (``--config`` or
``NDOVU_CONFIG``), environment variables, explicit command-line options.
"""

from __future__ import annotations

import json
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ndovu.errors import NdovuError
from ndovu.spec.limits import DEFAULT_LIMITS, ServerLimits


class ConfigError(NdovuError):
    code = "invalid_config"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ndovu"


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=default_state_dir)
    host: str = "127.0.0.1"
    port: int = 8470
    # SQLAlchemy URL; empty means SQLite in the state directory
    database_url: str = ""
    provider: str = "local"
    # options of the provider (e.g. the sim provider's boot_latency_s): a [ndovu.provider_options]
    # table in TOML, a JSON object in NDOVU_PROVIDER_OPTIONS
    provider_options: Mapping[str, Any] = field(default_factory=dict)
    local_subnet: str = "127.1.0.0/16"
    catalog_dirs: tuple[Path, ...] = ()
    # run the reconciler inside the API process
    engine: bool = True
    # this engine's name in leases and events; empty: kept in the state directory's
    # engine-name file (made on first start), so a restarted engine resumes its own leases
    engine_name: str = ""
    # the port on which `ndovu engine` serves its pass durations to Prometheus (on
    # ``host``); 0: not served (`ndovu server` adds its engine's to its own /metrics)
    metrics_port: int = 0
    # what one cluster may ask for, whatever its type's spec (or a request's own spec)
    # allows: checked before any plan is built
    max_nodes_per_cluster: int = DEFAULT_LIMITS.nodes_per_cluster
    max_cpu_per_node: int = DEFAULT_LIMITS.cpu_per_node
    max_memory_mb_per_node: int = DEFAULT_LIMITS.memory_mb_per_node
    max_storage_gb_per_node: int = DEFAULT_LIMITS.storage_gb_per_node
    # how long an engine's claim on a cluster lasts unless renewed: another engine takes a
    # dead engine's clusters over this long after it died
    lease_ttl_s: float = 15.0
    # how long a cluster may take to become healthy before its operation fails
    bootstrap_timeout_s: float = 600.0
    # how often each cluster at rest is looked at (its nodes and their health probes),
    # spread over the interval; 0: never (statuses then say only what operations saw)
    observe_interval_s: float = 30.0
    # HTTPS: the operator's PEM certificate and key, or a certificate ndovu makes in the
    # state directory on the first start and keeps (ndovu.tls); neither: plain HTTP
    tls_cert: str = ""
    tls_key: str = ""
    tls_self_signed: bool = False
    # the URL at which clients reach this server (e.g. https://ndovu.example:8443 behind
    # a proxy): URLs in responses are built from it, never from a request's Host or
    # X-Forwarded-* headers; empty: http://HOST:PORT
    public_url: str = ""
    # the URL at which nodes download the software depot's files (…/depot); empty: the
    # public URL's, which suits nodes that can reach that address
    depot_url: str = ""

    @property
    def limits(self) -> ServerLimits:
        return ServerLimits(self.max_nodes_per_cluster, self.max_cpu_per_node,
                            self.max_memory_mb_per_node, self.max_storage_gb_per_node)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'ndovu.db'}"

    @property
    def public_base_url(self) -> str:
        """This server's URL as clients use it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = socket.getfqdn() if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_self_signed)

    @property
    def nodes_depot_url(self) -> str:
        """The depot's base URL as nodes use it."""
        return (self.depot_url or f"{self.public_base_url}/depot").rstrip("/")


_ENV_PREFIX = "NDOVU_"


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if name == "state_dir":
            return Path(raw).expanduser()
        if name == "provider_options":
            options = json.loads(raw) if isinstance(raw, str) else raw
            if not isinstance(options, Mapping):
                raise ValueError(raw)
            return dict(options)
        if name == "catalog_dirs":
            items = raw.split(os.pathsep) if isinstance(raw, str) else list(raw)
            return tuple(Path(p).expanduser() for p in items if p)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            value = str(raw).strip().lower()
            if value not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                raise ValueError(raw)
            return value in {"1", "true", "yes", "on"}
        return str(raw)
    except (TypeError, ValueError) as exc:
        expected = "a JSON object or TOML table" if name == "provider_options" else kind
        raise ConfigError(f"setting {name!r} has an invalid value {raw!r} (expected "
                          f"{expected})", field=name) from exc


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, file, environment and explicit overrides (None = unset)."""
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    path = config_file or (Path(os.environ["NDOVU_CONFIG"]) if os.environ.get("NDOVU_CONFIG")
                           else None)
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc}") from exc
        section = data.get("ndovu", data)
        for key, raw in section.items():
            if key not in known:
                raise ConfigError(f"unknown setting {key!r} in {path}; known settings: "
                                  f"{', '.join(sorted(known))}", field=key)
            values[key] = _coerce(key, raw)
    for name in known:
        raw = os.environ.get(_ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, raw)
    return replace(Settings(), **values)
