"""``ndovu server`` (the API and, by default, the engine) and ``ndovu engine`` (the engine
alone), both run in this process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ndovu.cli.output import print_error

StateDir = Annotated[Path | None, typer.Option(
    "--state-dir", file_okay=False,
    help="Directory for the SQLite database, the local nodes and the engine's name.")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url",
    help="SQLAlchemy URL of the database, e.g. postgresql+psycopg://ndovu@db/ndovu or "
         "mysql+pymysql://ndovu@db/ndovu [default: SQLite in the state directory]. Put a "
         "password in the config file or NDOVU_DATABASE_URL, not on the command line.")]
Provider = Annotated[str | None, typer.Option(
    "--provider", help="Infrastructure provider: local, machines, openstack or sim "
                       "[default: local].")]
ProviderOption = Annotated[list[str] | None, typer.Option(
    "--provider-option", metavar="KEY=VALUE",
    help="An option of the provider (VALUE is JSON, else a string), e.g. "
         "--provider-option boot_latency_s=1; repeat for several.")]
CatalogDir = Annotated[list[Path] | None, typer.Option(
    "--catalog-dir", exists=True, file_okay=False,
    help="A catalog folder in BDE's layout (specs/map, distros/manifest, spec files); "
         "repeat for several. Its types are offered beside the built-in ones "
         "[default: from config].")]
DepotUrl = Annotated[str | None, typer.Option(
    "--depot-url",
    help="URL at which nodes download the software depot's files, e.g. "
         "http://10.0.0.5:8470/depot [default: from config, else this server's host and "
         "port].")]
ObserveInterval = Annotated[float | None, typer.Option(
    "--observe-interval", min=0,
    help="Seconds between looks at each running cluster's nodes and health probes, "
         "spread over the interval; 0 turns watching off [default: from config, else 30].")]
Config = Annotated[Path | None, typer.Option(
    "--config", exists=True, dir_okay=False,
    help="TOML configuration file [default: $NDOVU_CONFIG].")]


def _provider_options(items: list[str] | None) -> dict[str, Any] | None:
    if not items:
        return None
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE",
                                     param_hint="--provider-option")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def server(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on [default: from config, else 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port to listen on [default: from config, else 8470].")] = None,
    state_dir: StateDir = None,
    database_url: DatabaseUrl = None,
    provider: Provider = None,
    provider_option: ProviderOption = None,
    catalog_dir: CatalogDir = None,
    depot_url: DepotUrl = None,
    observe_interval: ObserveInterval = None,
    tls_cert: Annotated[Path | None, typer.Option(
        "--tls-cert", exists=True, dir_okay=False,
        help="Serve HTTPS with this PEM certificate (chain); needs --tls-key.")] = None,
    tls_key: Annotated[Path | None, typer.Option(
        "--tls-key", exists=True, dir_okay=False,
        help="The PEM private key of --tls-cert.")] = None,
    tls_self_signed: Annotated[bool | None, typer.Option(
        "--tls-self-signed",
        help="Serve HTTPS with a certificate made in the state directory on the first "
             "start and kept (its fingerprint is logged); clients trust it with "
             "--ca-file STATE_DIR/tls/server.crt.")] = None,
    engine: Annotated[bool | None, typer.Option(
        "--engine/--no-engine",
        help="Run the engine in this process too; --no-engine serves the API only, for "
             "`ndovu engine` processes elsewhere to do the work [default: --engine].")] = None,
    config: Config = None,
) -> None:
    """Run the ndovu server (REST API and engine) in this process.

    Options left out come from the config file, NDOVU_* variables or the defaults.
    """
    # Imported here: the rest of the CLI is a pure HTTP client and must stay importable
    # (and fast) without the server's dependencies.
    from ndovu.config import load_settings
    from ndovu.errors import NdovuError
    from ndovu.server import run

    try:
        settings = load_settings(config_file=config, host=host, port=port,
                                 state_dir=state_dir, database_url=database_url,
                                 provider=provider,
                                 provider_options=_provider_options(provider_option),
                                 catalog_dirs=catalog_dir or None, engine=engine,
                                 depot_url=depot_url, observe_interval_s=observe_interval,
                                 tls_cert=str(tls_cert) if tls_cert else None,
                                 tls_key=str(tls_key) if tls_key else None,
                                 tls_self_signed=tls_self_signed)
        run(settings)
    except NdovuError as exc:
        print_error(exc, json_output=False)
        raise typer.Exit(code=1) from exc


def engine(
    state_dir: StateDir = None,
    database_url: DatabaseUrl = None,
    provider: Provider = None,
    provider_option: ProviderOption = None,
    catalog_dir: CatalogDir = None,
    depot_url: DepotUrl = None,
    observe_interval: ObserveInterval = None,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", min=1, max=65535,
        help="Serve this engine's pass durations to Prometheus on this port, at "
             "/metrics on 127.0.0.1 (or the configured host) [default: not served].")] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="This engine's name in leases and events [default: made on first "
                       "start and kept in the state directory].")] = None,
    config: Config = None,
) -> None:
    """Run an engine alone: it works on the clusters of the shared database.

    Several engines, each with its own state directory, may share one PostgreSQL or
    MariaDB database with `ndovu server --no-engine` processes serving the API.

    Each cluster is worked on by one engine at a time.

    A dead engine's clusters are taken over when its leases expire (lease_ttl_s, 15 s).

    Stops on SIGTERM or Ctrl-C.
    """
    from ndovu.config import load_settings
    from ndovu.errors import NdovuError
    from ndovu.server import run_engine

    try:
        settings = load_settings(config_file=config, state_dir=state_dir,
                                 database_url=database_url, provider=provider,
                                 provider_options=_provider_options(provider_option),
                                 catalog_dirs=catalog_dir or None, engine_name=name,
                                 depot_url=depot_url, observe_interval_s=observe_interval,
                                 metrics_port=metrics_port)
        run_engine(settings)
    except NdovuError as exc:
        print_error(exc, json_output=False)
        raise typer.Exit(code=1) from exc
