"""``ndovu cluster start``: power a stopped cluster's nodes on and start its software."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT_S, ApiClient
from ndovu.cli.follow import handle_accepted
from ndovu.cli.options import JsonOption, NoWaitOption, TimeoutOption, UrlOption
from ndovu.cli.output import reporting_errors


def start(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_WAIT_TIMEOUT_S,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Start a stopped cluster (or retry a failed one): nodes are powered on and roles
    started in dependency order until every node is SERVICE_READY."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        accepted = client.start_cluster(name)
        handle_accepted(client, accepted, name=name, verb="Starting",
                        done=f"Cluster '{name}' is running", no_wait=no_wait,
                        timeout=timeout, json_output=json_output, show_nodes=True)
