"""``ndovu server``: run the API (and, by default, the engine) in this process."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ndovu.cli.output import print_error


def server(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on [default: from config, else 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port to listen on [default: from config, else 8470].")] = None,
    state_dir: Annotated[Path | None, typer.Option(
        "--state-dir", file_okay=False,
        help="Directory for the database and the local nodes.")] = None,
    catalog_dir: Annotated[list[Path] | None, typer.Option(
        "--catalog-dir", exists=True, file_okay=False,
        help="A catalog folder in BDE's layout (specs/map, distros/manifest, spec files); "
             "repeat for several. Its types are offered beside the built-in ones "
             "[default: from config].")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", exists=True, dir_okay=False,
        help="TOML configuration file [default: $NDOVU_CONFIG].")] = None,
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
                                 state_dir=state_dir, catalog_dirs=catalog_dir or None)
        run(settings)
    except NdovuError as exc:
        print_error(exc, json_output=False)
        raise typer.Exit(code=1) from exc
