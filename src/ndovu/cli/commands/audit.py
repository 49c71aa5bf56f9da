"""``ndovu audit``: the server's audit log (administrators only)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ndovu.cli.client import DEFAULT_URL, ApiClient
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors


def audit(
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000,
                                       help="How many of the newest events.")] = 50,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Every request that asked for a change, newest first: who, from where, what, and
    the answer (never a body or a secret)."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        events = client.audit(limit)
        if json_output:
            print_json({"events": events})
            return
        table = Table(title="Audit log", title_justify="left")
        for column in ("At", "User", "Address", "Request", "Status"):
            table.add_column(column)
        for e in events:
            table.add_row(e["at"], e["user"] or "-", e["address"],
                          f"{e['method']} {e['path']}", str(e["status"]))
        console.print(table)
