"""The ``[ndovu]`` section of heat.conf: where the ndovu server is and how to log in.

Registered on import (Heat imports plugin modules after parsing its configuration;
oslo.config reads a group's values when they are first asked for).
"""

from __future__ import annotations

from pathlib import Path

from oslo_config import cfg

from . import connection

GROUP = "ndovu"

OPTS = [
    cfg.StrOpt("endpoint",
               help="URL of the ndovu REST API, e.g. http://ndovu.example:8470. Templates "
                    "that name no endpoint use this one."),
    cfg.StrOpt("username", help="ndovu user the plugin logs in as."),
    cfg.StrOpt("password", secret=True,
               help="That user's password (or use password_file)."),
    cfg.StrOpt("password_file",
               help="A file holding the password (read at each login, so it can be "
                    "rotated); used when password is not set."),
    cfg.StrOpt("ca_file", help="CA bundle to verify the server's TLS certificate."),
    cfg.BoolOpt("insecure", default=False,
                help="Do not verify the server's TLS certificate (tests only)."),
    cfg.FloatOpt("connect_timeout", default=5.0, min=0.1,
                 help="Seconds to wait for a connection to the server."),
    cfg.FloatOpt("request_timeout", default=30.0, min=0.1,
                 help="Seconds to wait for an answer to one request."),
    cfg.FloatOpt("poll_failure_grace", default=60.0, min=0.0,
                 help="While waiting for an operation, how many seconds in a row the "
                      "server may be unreachable (or answer 5xx) before the resource "
                      "fails."),
]

cfg.CONF.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """For oslo-config-generator (a sample heat.conf section)."""
    return [(GROUP, list(OPTS))]


class ConfigError(Exception):
    """The ``[ndovu]`` section cannot be used as it is; the message says what to set."""


def settings(conf: cfg.ConfigOpts = cfg.CONF) -> connection.Settings:
    """The configured values, the password read from password_file when needed."""
    group = conf[GROUP]
    password = group.password
    if not password and group.password_file:
        path = Path(group.password_file)
        try:
            password = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read [{GROUP}] password_file {str(path)!r}: "
                              f"{exc.strerror or exc}") from exc
    verify: bool | str = True
    if group.insecure:
        verify = False
    elif group.ca_file:
        verify = group.ca_file
    return connection.Settings(
        endpoint=group.endpoint or None, username=group.username or None,
        password=password or None, verify=verify, connect_timeout=group.connect_timeout,
        request_timeout=group.request_timeout, poll_failure_grace=group.poll_failure_grace)
