"""``ndovu user create|list|passwd|disable|enable|delete``: accounts (all but changing your
own password need an administrator)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ndovu.cli.client import DEFAULT_URL, ApiClient
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.passwords import PasswordFileOption, PasswordStdinOption, read_password


def create(
    name: Annotated[str, typer.Argument(help="The new user's name.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make an administrator.")] = False,
    password_file: PasswordFileOption = None,
    password_stdin: PasswordStdinOption = False,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Create a user."""
    password = read_password(password_file, password_stdin, prompt=f"Password for {name}",
                             confirm=True)
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        user = client.create_user(name, password, is_admin=admin)
        if json_output:
            print_json(user)
        else:
            console.print(f"Created user {user['name']}"
                          + (" (administrator)." if user["isAdmin"] else "."))


def list_users(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """List the users."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        users = client.list_users()
        if json_output:
            print_json({"users": users})
            return
        table = Table(title="Users", title_justify="left")
        table.add_column("Name")
        table.add_column("Administrator")
        table.add_column("Disabled")
        for user in users:
            table.add_row(user["name"], "yes" if user["isAdmin"] else "no",
                          "yes" if user.get("disabled") else "no")
        console.print(table)


def passwd(
    name: Annotated[str, typer.Argument(help="Whose password (yours, unless an admin).")],
    password_file: PasswordFileOption = None,
    password_stdin: PasswordStdinOption = False,
    current_password_file: Annotated[Path | None, typer.Option(
        "--current-password-file", exists=True, dir_okay=False,
        help="Your current password, from the first line of this file (changing your own "
             "password needs it) [default: asked].")] = None,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Change a password. Your own needs the current one, and ends your other tokens;
    an administrator changing someone else's ends every token of theirs."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        current = None
        if client.whoami()["name"] == name:
            current = read_password(current_password_file, False, prompt="Current password")
        password = read_password(password_file, password_stdin, prompt="New password",
                                 confirm=True)
        client.set_password(name, password, current)
        if json_output:
            print_json({"user": name, "changed": True})
        elif current is not None:
            console.print("Changed your password; your other tokens stopped working.")
        else:
            console.print(f"Changed the password of {name}; log in again with it.")


def disable(
    name: Annotated[str, typer.Argument(help="The user.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Disable a user: no more logins, and every token of theirs stops working."""
    _set_disabled(name, True, json_output, url)


def enable(
    name: Annotated[str, typer.Argument(help="The user.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Let a disabled user log in again."""
    _set_disabled(name, False, json_output, url)


def _set_disabled(name: str, disabled: bool, json_output: bool, url: str) -> None:
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        user = client.set_user_disabled(name, disabled)
        if json_output:
            print_json(user)
        else:
            console.print(f"{'Disabled' if disabled else 'Enabled'} user {name}.")


def delete(
    name: Annotated[str, typer.Argument(help="The user.")],
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Delete a user; every token of theirs stops working."""
    with reporting_errors(json_output=json_output), ApiClient(url) as client:
        client.delete_user(name)
        if json_output:
            print_json({"user": name, "deleted": True})
        else:
            console.print(f"Deleted user {name}.")
