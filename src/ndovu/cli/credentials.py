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


def remember(url: str, user: str, token: str, expires_at: str) -> Path:
    data = _load()
    data[_key(url)] = {"user": user, "token": token, "expiresAt": expires_at}
    return _save(data)


def forget(url: str) -> bool:
    data = _load()
    if data.pop(_key(url), None) is None:
        return False
    _save(data)
    return True
