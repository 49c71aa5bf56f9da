"""``ndovu cluster delete``: delete a cluster and follow the deletion."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, DEFAULT_WAIT_TIMEOUT_S, ApiClient
from ndovu.cli.follow import handle_accepted
from ndovu.cli.options import JsonOption, NoWaitOption, TimeoutOption, UrlOption
from ndovu.cli.output import reporting_errors


def delete(
    name: Annotated[str, typer.Argument(help="Cluster name.")],
    force: Annotated[bool, typer.Option(
        "--force", help="Give up on nodes the provider keeps refusing to delete (after its "
                        "retries): the cluster goes, and ndovu says what may be left "
                        "behind.")] = False,
    no_wait: NoWaitOption = False,
    json_output: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_WAIT_TIMEOUT_S,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete a cluster, its nodes and their data, and follow it until it is gone."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        accepted = client.delete_cluster(name, force=force)
        handle_accepted(client, accepted, name=name, verb="Deleting",
                        done=f"Cluster '{name}' is deleted", no_wait=no_wait, timeout=timeout,
                        json_output=json_output, show_nodes=False)
