"""``ndovu login`` and ``ndovu logout``: a bearer token per server, kept 0600."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ndovu.cli import credentials
from ndovu.cli.client import DEFAULT_URL, ApiClient
from ndovu.cli.options import JsonOption, UrlOption
from ndovu.cli.output import console, print_json, reporting_errors
from ndovu.cli.passwords import PasswordFileOption, PasswordStdinOption, read_password


def login(
    user: Annotated[str, typer.Option("--user", "-u", help="User name.")] = "admin",
    password_file: PasswordFileOption = None,
    password_stdin: PasswordStdinOption = False,
    ca_file: Annotated[Path | None, typer.Option(
        "--ca-file", exists=True, dir_okay=False,
        help="Check an HTTPS server's certificate against this CA certificate (PEM; for "
             "`ndovu server --tls-self-signed`, its STATE_DIR/tls/server.crt); kept with "
             "the token for later commands [default: the system's CAs].")] = None,
    json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Log in and keep the token in the user's config folder (readable by you only)."""
    password = read_password(password_file, password_stdin, prompt=f"Password for {user}")
    ca = str(ca_file.resolve()) if ca_file else None
    with reporting_errors(json_output=json_output), \
            ApiClient(url, anonymous=True, ca_file=ca) as client:
        answer = client.login(user, password)
        path = credentials.remember(url, answer["user"], answer["token"],
                                   str(answer["expiresAt"]), ca_file=ca)
        if json_output:
            print_json({"user": answer["user"], "isAdmin": answer["isAdmin"],
                        "expiresAt": answer["expiresAt"], "credentials": str(path)})
        else:
            console.print(f"Logged in to {url} as {answer['user']}; the token is kept in "
                          f"{path} until {answer['expiresAt']}.")


def logout(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL) -> None:
    """Revoke this server's token and forget it."""
    with reporting_errors(json_output=json_output):
        if credentials.token_for(url):
            with ApiClient(url) as client:
                client.logout()
        forgot = credentials.forget(url)
        if json_output:
            print_json({"loggedOut": forgot})
        else:
            console.print(f"Logged out of {url}." if forgot else f"Not logged in to {url}.")
