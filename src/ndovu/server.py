"""The composition root: builds store, catalog, provider, roles, engine and API for one
process. The only module that knows every concrete implementation."""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import IO, Any

import uvicorn
from fastapi import FastAPI
from prometheus_client import start_http_server
from sqlalchemy.orm import Session

from ndovu import accounts, tls
from ndovu.api.app import create_app
from ndovu.api.deps import NO_NODE_PASSWORDS, ApiContext
from ndovu.catalog import Catalog
from ndovu.config import Settings
from ndovu.engine import Engine
from ndovu.errors import NdovuError, SpecError
from ndovu.providers.machines import Machine
from ndovu.providers.openstack import KeyPair, generate_key_pair
from ndovu.providers.registry import make_provider, runs_software
from ndovu.roles.registry import builtin_roles
from ndovu.store import Store
from ndovu.store.cluster_keys import StoreClusterKeys
from ndovu.store.machines import StoreInventory, check_free_machines
from ndovu.transports.ssh import SshConnections

log = logging.getLogger("ndovu.server")


@dataclass
class Process:
    settings: Settings
    store: Store
    catalog: Catalog
    engine: Engine
    app: FastAPI
    # closes what the provider holds open (the machines provider's SSH connections)
    close_provider: Callable[[], None] = lambda: None


def _make_state_dir(settings: Settings) -> None:
    """The state directory, its owner's only: it holds the SQLite database, the initial
    admin password and the local provider's nodes."""
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    settings.state_dir.chmod(0o700)  # also one made before this rule


def build(settings: Settings) -> Process:
    _make_state_dir(settings)
    store = Store(settings.db_url)
    store.migrate()
    password_file = accounts.ensure_initial_admin(store, settings.state_dir)
    if password_file is not None:
        # the path only: the password itself is never logged
        log.warning("created user 'admin'; its initial password is in %s (readable by its "
                    "owner only); log in with `ndovu login --password-file %s`",
                    password_file, password_file)
    options = dict(settings.provider_options)
    if settings.provider == "local":
        options.setdefault("subnet", settings.local_subnet)
    close_provider = (_machines_options(store, options) if settings.provider == "machines"
                      else _openstack_options(store, options)
                      if settings.provider == "openstack" else _nothing_to_close)
    provider = make_provider(settings.provider, settings.state_dir, **options)
    engine = Engine(store, provider, builtin_roles(),
                    bootstrap_timeout_s=settings.bootstrap_timeout_s,
                    name=engine_name(settings) if settings.engine else None,
                    lease_ttl_s=settings.lease_ttl_s, depot_url=settings.nodes_depot_url,
                    observe_interval_s=settings.observe_interval_s)
    catalog = Catalog.load(settings.catalog_dirs)
    for kind in catalog.types():
        try:
            engine.check_spec_configuration(kind.spec)
        except SpecError as exc:
            catalog.reject(kind.name, exc.field, f"type '{kind.name}': {exc.message}")
    for problem in catalog.problems:
        log.warning("catalog: %s: %s%s", problem.path,
                    f"{problem.field}: " if problem.field else "", problem.message)
    app = create_app(ApiContext(store=store, catalog=catalog,
                                validate_plan=engine.validate_plan,
                                role_support=lambda names: engine.role_support(
                                    names, runs_software()),
                                notify=engine.wake if settings.engine else (lambda: None),
                                scale_refusal=None if provider.can_scale_nodes
                                else provider.scale_refusal,
                                provider=provider.name,
                                address_space=provider.address_space,
                                password_refusal=provider.password_refusal
                                or NO_NODE_PASSWORDS,
                                static_network_refusal=provider.static_network_refusal,
                                check_node_room=_node_room_check(settings),
                                limits=settings.limits,
                                public_url=settings.public_base_url,
                                secure_cookies=settings.tls,
                                engine_metrics=engine.pass_times.registry
                                if settings.engine else None))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Iterator[None]:  # type: ignore[misc]
        if settings.engine:
            engine.start()
        try:
            yield
        finally:
            if settings.engine:
                engine.stop()
            close_provider()
            store.dispose()

    app.router.lifespan_context = lifespan
    return Process(settings, store, catalog, engine, app, close_provider)


def _nothing_to_close() -> None:
    pass


def _machines_options(store: Store, options: dict[str, Any]) -> Callable[[], None]:
    """The machines provider's inventory (this store's machines) and the process's SSH
    connections, added to its options; returns what closes the connections."""
    connections = SshConnections()
    options["inventory"] = StoreInventory(store, Machine)
    options["connections"] = connections
    return connections.close


def _openstack_options(store: Store, options: dict[str, Any]) -> Callable[[], None]:
    """The OpenStack provider's cluster keys (in this store, so every engine reaches the
    nodes) and the process's SSH connections; returns what closes the connections."""
    connections = SshConnections()
    options["keys"] = StoreClusterKeys(store, generate_key_pair, KeyPair)
    options["connections"] = connections
    return connections.close


def _node_room_check(settings: Settings) -> Callable[[Session, str, int, str | None], None]:
    """What the API counts new nodes against: the machines provider's free machines, one
    per node; every other provider makes its nodes on demand."""
    if settings.provider != "machines":
        return lambda s, cluster, new_nodes, field: None
    return lambda s, cluster, new_nodes, field: check_free_machines(
        s, cluster=cluster, new_nodes=new_nodes, field=field)


class ServerError(NdovuError):
    code = "server_error"


def _listen(settings: Settings) -> socket.socket:
    """Bind the API's socket before anything else starts, so a taken port stops us before
    an engine could begin working on the database."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every answer on a kept-alive connection waits ~40 ms for delayed ACKs
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
                          hint="another ndovu server may be running there; pick another "
                               "port with --port") from exc
    sock.listen(2048)
    return sock


def engine_name(settings: Settings) -> str:
    """The engine's name in leases and events. Kept in the state directory, whose lock
    makes this engine its only user: restarted after a crash, it resumes its own leases at
    once instead of waiting for them to expire."""
    if settings.engine_name:
        return settings.engine_name
    path = settings.state_dir / "engine-name"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        name = f"{socket.gethostname()}-{secrets.token_hex(3)}"
        path.write_text(name + "\n")
        return name


def _lock_state_dir(settings: Settings) -> IO[str]:
    """One engine per state directory: the local provider's nodes live there, and two
    engines would work on the same clusters at once."""
    _make_state_dir(settings)
    handle = (settings.state_dir / "server.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ServerError(f"another ndovu server (pid {holder}) is already using the state "
                          f"directory {settings.state_dir}",
                          hint="stop it first, or give this one another --state-dir") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run(settings: Settings) -> None:
    """``ndovu server``: the API, and the engine unless ``settings.engine`` is off."""
    _configure_logging()
    sock = _listen(settings)
    lock = _lock_state_dir(settings) if settings.engine else None
    try:
        process = build(settings)
        served = tls.certificate_files(settings.tls_cert, settings.tls_key,
                                       settings.tls_self_signed, settings.state_dir,
                                       settings.host)
        log.info("ndovu server on %s://%s:%d (state %s, provider %s)",
                 "https" if served else "http", settings.host, settings.port,
                 settings.state_dir, settings.provider)
        if served:
            log.info("TLS certificate %s, SHA-256 fingerprint %s", served[0],
                     tls.fingerprint(served[0]))
        # no X-Forwarded-* taken from anyone: the peer's address is the one failed logins
        # are counted by, and URLs come from public_url (ndovu.config)
        config = uvicorn.Config(process.app, log_level="warning", access_log=False,
                                proxy_headers=False,
                                ssl_certfile=served[0] if served else None,
                                ssl_keyfile=served[1] if served else None)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if lock is not None:
            lock.close()


def run_engine(settings: Settings) -> None:
    """``ndovu engine``: the engine alone, until SIGTERM or SIGINT. Several may share one
    PostgreSQL or MariaDB database (each with its own state directory); they divide the
    clusters between them by lease."""
    _configure_logging()
    settings = replace(settings, engine=True)
    lock = _lock_state_dir(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        process = build(settings)
        metrics = (start_http_server(settings.metrics_port, addr=settings.host,
                                     registry=process.engine.pass_times.registry)[0]
                   if settings.metrics_port else None)
        process.engine.start()
        log.info("ndovu engine %s running (state %s, provider %s%s)", process.engine.name,
                 settings.state_dir, settings.provider,
                 f", metrics on http://{settings.host}:{settings.metrics_port}/metrics"
                 if metrics else "")
        stop.wait()
        log.info("stopping engine %s", process.engine.name)
        if metrics is not None:
            metrics.shutdown()
        process.engine.stop()
        process.close_provider()
        process.store.dispose()
    finally:
        lock.close()
