"""Which ndovu server a resource talks to, and with whose credentials.

The ``[ndovu]`` configuration is the default. A template may name its own endpoint and
credentials (the seed plugin's ``bde_endpoint``, ``username``, ``password``): then the
template's are used. The configured credentials are only ever sent to the configured
endpoint, never to an endpoint a template names, or a template author could collect
them with a server of their own.
"""

# No `from __future__ import annotations` here: Heat runs a plugin folder's modules
# before registering them in sys.modules, where dataclasses look string annotations up.
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from . import client

DEFAULT_PORT = 8470  # `ndovu server`'s


@dataclass(frozen=True)
class Settings:
    """The ``[ndovu]`` section's values (``options.settings()`` reads them)."""

    endpoint: str | None
    username: str | None
    password: str | None = field(default=None, repr=False)
    verify: bool | str = True
    connect_timeout: float = 5.0
    request_timeout: float = 30.0
    poll_failure_grace: float = 60.0


class SetupError(Exception):
    """The template and configuration together do not say where or how to log in."""


def normalize(endpoint: str) -> str:
    """``host``, ``host:port`` or a URL → ``scheme://host:port`` without a trailing /.

    A bare host means plain HTTP on ndovu's default port (8470)."""
    text = endpoint.strip().rstrip("/")
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(f"{endpoint!r} is not an ndovu endpoint: give a URL such as "
                               f"http://ndovu.example:{DEFAULT_PORT}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SetupError(f"the ndovu endpoint {parts.scheme}://{parts.hostname} may not "
                               "carry credentials, a query or a fragment")
    try:
        port = parts.port
    except ValueError as exc:
        raise SetupError(f"{endpoint!r} has an invalid port") from exc
    if port is None and "://" not in endpoint:
        port = DEFAULT_PORT
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def resolve(conf: Settings, *, endpoint: str | None = None,
            username: str | None = None, password: str | None = None) -> client.Connection:
    """The connection for a resource; ``endpoint``/``username``/``password`` come from
    the template (None: not given)."""
    if bool(username) != bool(password):
        raise SetupError("give both username and password in the template, or "
                               "neither (then [ndovu] in heat.conf has them)")
    configured = normalize(conf.endpoint) if conf.endpoint else None
    chosen = normalize(endpoint) if endpoint else configured
    if chosen is None:
        raise SetupError("no ndovu endpoint: set endpoint in the [ndovu] section of "
                               "heat.conf (or give bde_endpoint in the template)")
    if username and password:
        user, secret = username, password
    elif chosen != configured:
        raise SetupError(
            f"the template names the ndovu endpoint {chosen} but no username and password; "
            f"the credentials in heat.conf are only sent to the configured endpoint "
            f"({configured or 'none set'}): give username and password in the template, "
            "or leave the endpoint out")
    elif conf.username and conf.password:
        user, secret = conf.username, conf.password
    else:
        raise SetupError("no ndovu credentials: set username and password (or "
                               "password_file) in the [ndovu] section of heat.conf")
    return client.Connection(endpoint=chosen, username=user, password=secret,
                             verify=conf.verify, connect_timeout=conf.connect_timeout,
                             request_timeout=conf.request_timeout)
