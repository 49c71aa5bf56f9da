"""Where the CLI keeps its tokens: one per server URL, in the user's config directory.

``$XDG_CONFIG_HOME/ndovu/credentials.json`` (default ``~/.config``), the folder 0700 and
the file 0600 from the moment they exist (created with that mode, never chmod-ed after),
written atomically. ``NDOVU_TOKEN`` wins over the file, for scripts and CI.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

TOKEN_ENV = "NDOVU_TOKEN"
# the CA certificate (PEM) an HTTPS server is checked against, for every command
CA_FILE_ENV = "NDOVU_CA_FILE"


def credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ndovu" / "credentials.json"


def _key(url: str) -> str:
    return url.rstrip("/")


def _load() -> dict[str, Any]:
    try:
        data = json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def token_for(url: str) -> str | None:
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env
    entry = _load().get(_key(url))
    return entry.get("token") if isinstance(entry, dict) else None


def ca_file_for(url: str) -> str | None:
    """The CA file to check this server's certificate against: NDOVU_CA_FILE, else the
    one ``ndovu login --ca-file`` kept for it; None: the system's CAs."""
    env = os.environ.get(CA_FILE_ENV, "").strip()
    if env:
        return env
    entry = _load().get(_key(url))
    return entry.get("caFile") if isinstance(entry, dict) else None


def _save(data: dict[str, Any]) -> Path:
    path = credentials_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".credentials.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def remember(url: str, user: str, token: str, expires_at: str,
             ca_file: str | None = None) -> Path:
    data = _load()
    data[_key(url)] = {"user": user, "token": token, "expiresAt": expires_at,
                       **({"caFile": ca_file} if ca_file else {})}
    return _save(data)


def forget(url: str) -> bool:
    data = _load()
    if data.pop(_key(url), None) is None:
        return False
    _save(data)
    return True
