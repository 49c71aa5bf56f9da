"""``ndovu datastore create|list|delete``: datastore names a cluster may ask for."""

from __future__ import annotations

from typing import Annotated

import typer

from ndovu.cli.client import DEFAULT_URL, ApiClient, Json
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.render import datastores_table


def create(
    name: Annotated[str, typer.Argument(help="Datastore name.")],
    spec: Annotated[list[str], typer.Option(
        "--spec", metavar="NAME",
        help="A storage name (or pattern, with --regex) it stands for; repeatable.")],
    kind: Annotated[str, typer.Option(
        "--type", metavar="SHARED|LOCAL", help="SHARED or LOCAL.")] = "SHARED",
    regex: Annotated[bool, typer.Option(
        "--regex", help="The --spec values are regular expressions.")] = False,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a datastore (`cluster create --datastore` names it)."""
    body: Json = {"name": name, "spec": spec, "type": kind, "regex": regex}
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        ds = client.create_datastore(body)
        if json_output:
            print_json(ds)
        else:
            console.print(f"Created datastore {ds['name']} ({ds.get('type')}).", markup=False)


def list_datastores(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List the datastores and the clusters naming each."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        datastores = client.list_datastores()
        if json_output:
            print_json({"datastores": datastores})
        else:
            console.print(datastores_table(datastores))


def delete(
    name: Annotated[str, typer.Argument(help="Datastore name.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete a datastore no cluster names."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        client.delete_datastore(name)
        if json_output:
            print_json({"datastore": name, "deleted": True})
        else:
            console.print(f"Deleted datastore {name}.", markup=False)
