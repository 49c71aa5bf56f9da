"""``ndovu cluster events``: every step the server took on a cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, ApiClient
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.render import cluster_events_table


def events(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    limit: Annotated[int, typer.Option(
        "--limit", min=1, max=5000, help="Show the latest N events.")] = 500,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Show a cluster's event log, oldest first: time, node, step, outcome, duration and
    message of every step of every operation."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        log = client.get_cluster_events(name, limit)
        if json_output:
            print_json({"events": log})
        elif not log:
            console.print(f"No events for cluster '{name}' yet.", markup=False)
        else:
            console.print(cluster_events_table(log))
