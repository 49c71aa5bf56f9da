"""Following a long operation: a Rich progress bar fed by the operation's progress, a live
per-node table fed by the cluster, and the one place that reports how it ended."""

from __future__ import annotations

import time
from dataclasses import dataclass

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ndovu.cli.client import ApiClient, Json
from ndovu.cli.errors import ApiError, CliError
from ndovu.cli.output import console, err_console, print_json
from ndovu.cli.render import endpoints_lines, instances, nodes_table

SUCCESS = "COMPLETED"


@dataclass
class Followed:
    op: Json
    # None when nobody watched (``--no-wait``) or the wait printed nothing (``--json``)
    elapsed_s: float | None = None


class OperationView:
    """What the live display shows; ``update`` is the ``wait_for_operation`` callback."""

    def __init__(self, client: ApiClient, op: Json, *, verb: str):
        self.client = client
        self.cluster_name = str(op.get("target"))
        self.cluster: Json | None = None
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                 BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                                 console=console)
        self.task = self.progress.add_task(f"{verb} {escape(self.cluster_name)}", total=100)
        self.verb = verb
        self.update(op)

    def update(self, op: Json) -> None:
        self.message = str(op.get("progressMessage") or str(op.get("status", "")).lower())
        self.progress.update(self.task, completed=op.get("progress") or 0)
        self._refresh_cluster()

    def _refresh_cluster(self) -> None:
        # The node table is decoration next to the operation, which is the source of truth:
        # a cluster that is gone (404, e.g. while deleting) shows no nodes, and a failed
        # poll keeps the last snapshot while wait_for_operation backs off on its own poll.
        try:
            self.cluster = self.client.get_cluster(self.cluster_name)
        except ApiError as exc:
            if exc.status_code == 404:
                self.cluster = None
            elif not exc.retryable:
                raise
        except CliError as exc:
            if not exc.retryable:
                raise

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = [self.progress, Text(self.message, style="dim")]
        if self.cluster and instances(self.cluster):
            parts.append(nodes_table(self.cluster, action=True))
        return Group(*parts)


def follow_operation(client: ApiClient, op: Json, *, verb: str, timeout: float,
                     json_output: bool) -> Followed:
    """Wait for ``op`` to end, showing progress unless ``json_output``."""
    op_id = int(op["id"])
    if json_output:
        return Followed(client.wait_for_operation(op_id, timeout=timeout))
    view = OperationView(client, op, verb=verb)
    started = time.monotonic()
    try:
        with Live(view, console=console, refresh_per_second=8, transient=True):
            final = client.wait_for_operation(op_id, view.update, timeout=timeout)
    except KeyboardInterrupt:
        console.print(f"[yellow]Stopped following operation {op_id}; it goes on on the "
                      f"server. Follow it again with `ndovu operation show {op_id}`.[/]")
        raise typer.Exit(code=130) from None
    return Followed(final, time.monotonic() - started)


def report_outcome(client: ApiClient, followed: Followed, *, done: str, json_output: bool,
                   show_nodes: bool) -> None:
    """Print how the operation ended (nodes and endpoints on success); exit 1 unless it
    succeeded."""
    op, elapsed = followed.op, followed.elapsed_s
    if json_output:
        print_json(op)
    elif op.get("status") == SUCCESS:
        took = f" in {elapsed:.1f} s" if elapsed is not None else ""
        console.print(f"[green]✓[/] {done}{took}.", soft_wrap=True)
        if op.get("failNodes"):  # a forced delete gave up on these: say what may be left
            console.print(f"[yellow]![/] {escape(str(op.get('progressMessage') or ''))}",
                          soft_wrap=True)
        if show_nodes:
            _print_cluster(client, str(op.get("target")))
    else:
        _print_failure(client, op, show_nodes=show_nodes)
    if op.get("status") != SUCCESS:
        raise typer.Exit(code=1)


def handle_accepted(client: ApiClient, accepted: Json, *, name: str, verb: str, done: str,
                    no_wait: bool, timeout: float, json_output: bool,
                    show_nodes: bool) -> None:
    """What every mutating command does with its 202: print it, or follow it to the end."""
    if no_wait:
        if json_output:
            print_json(accepted)
        else:
            console.print(f"{verb} cluster '{name}' (operation {accepted.get('id')}); "
                          f"follow it with `ndovu operation show {accepted.get('id')}`.",
                          soft_wrap=True, markup=False)
        return
    followed = follow_operation(client, accepted, verb=verb, timeout=timeout,
                                json_output=json_output)
    report_outcome(client, followed, done=done, json_output=json_output,
                   show_nodes=show_nodes)


def _print_cluster(client: ApiClient, name: str) -> None:
    try:
        cluster = client.get_cluster(name)
    except CliError as exc:  # the operation succeeded; only the summary is missing
        err_console.print(f"[yellow]The nodes of '{escape(name)}' could not be listed: "
                          f"{escape(exc.message)}; see `ndovu cluster show {escape(name)}`.[/]",
                          soft_wrap=True)
        return
    console.print(nodes_table(cluster))
    for line in endpoints_lines(cluster.get("endpoints")):
        console.print(line, soft_wrap=True)


def _print_failure(client: ApiClient, op: Json, *, show_nodes: bool) -> None:
    what = f"{str(op.get('type', 'operation')).lower()} of cluster '{op.get('target')}'"
    line = f"✗ The {what} {str(op.get('status')).lower()}"
    if op.get("errorMessage"):
        line += f": {op['errorMessage']}"
    err_console.print(f"[bold red]{escape(line)}[/]", soft_wrap=True)
    if op.get("failNodes"):
        err_console.print(f"[red]  failed nodes: {escape(', '.join(op['failNodes']))}[/]",
                      soft_wrap=True)
    if show_nodes:
        try:
            cluster = client.get_cluster(str(op.get("target")))
        except ApiError as exc:
            if exc.status_code != 404:
                raise
        else:
            console.print(nodes_table(cluster, detail=True))
    err_console.print(f"  see why, step by step: `ndovu operation show {op.get('id')} --events`",
                  soft_wrap=True)
