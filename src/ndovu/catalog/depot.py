"""The software depot: files an operator publishes in a catalog folder's ``distros/``.

BDE's management server served its distros' tarballs from ``/opt/serengeti/www/distros``
over HTTP to the nodes; ndovu serves each catalog folder's ``distros/`` the same way (a
later folder's file of the same path wins, as its types do). A manifest entry names a
file by its path there: ``{"tarball": "spark/spark-4.3.0-bin-ndovu.tgz", "roles": [...]}``.
A file's SHA-256 is the entry's ``sha256``, else the first word of ``<file>.sha256`` next
to it (``sha256sum``'s format), else computed when the catalog loads; nodes check it
before they unpack the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ndovu.spec.model import RoleSoftware, Tarball

DISTROS_FOLDER = "distros"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DepotError(ValueError):
    """A manifest entry names depot software that is not there or not usable."""


def _relative(path: str) -> str:
    """``path`` as a clean relative POSIX path, or DepotError saying why it is not one."""
    if "://" in path:
        raise DepotError(
            f"names its tarball by URL ({path}); ndovu serves software to nodes from its "
            f"depot: put the file under a catalog folder's {DISTROS_FOLDER}/ and name it "
            "by its path there")
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise DepotError(f"tarball {path!r} must be a path relative to a catalog folder's "
                         f"{DISTROS_FOLDER}/, without '..'")
    return pure.as_posix()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Depot:
    """The ``distros/`` folders of the catalog's folders, the later ones first."""

    def __init__(self, folders: Sequence[Path]):
        self.folders = [Path(f) for f in folders]
        self._published: dict[str, Path] = {}  # what manifests name: the only files served

    def tarball(self, path: str, sha256: Any = None) -> Tarball:
        """The depot file a manifest names, with its size and checksum; DepotError when
        it is not in the depot or its checksum is not a SHA-256."""
        relative = _relative(path)
        found = next((f / relative for f in self.folders if (f / relative).is_file()), None)
        if found is None:
            where = ", ".join(str(f) for f in self.folders) or "no catalog folder"
            raise DepotError(f"tarball {relative} is not in the depot (looked in {where})")
        digest = sha256 if sha256 is not None else _sidecar(found)
        if digest is None:
            digest = file_sha256(found)
        if not isinstance(digest, str) or not _SHA256.match(digest.lower()):
            raise DepotError(f"the sha256 of tarball {relative} must be 64 hex digits, "
                             f"not {digest!r}")
        self._published[relative] = found
        return Tarball(relative, digest.lower(), found.stat().st_size)

    def published(self, path: str) -> Path | None:
        """The file behind a depot path that a manifest names; None for anything else."""
        try:
            return self._published.get(_relative(path))
        except DepotError:
            return None

    def software(self, distro: Mapping[str, Any] | None,
                 roles: Sequence[str]) -> tuple[dict[str, RoleSoftware], str | None]:
        """Role -> its software as ``distro``'s manifest entry names it (``deb`` package
        lists and depot ``tarball``s; other keys are BDE's and ignored), and why the
        distro cannot be installed (a tarball missing from the depot), or None."""
        found: dict[str, RoleSoftware] = {}
        problem = None
        for entry in (distro or {}).get("packages") or []:
            if not isinstance(entry, Mapping):
                continue
            packages = tuple(p for p in entry.get("deb") or () if isinstance(p, str))
            tarballs: tuple[Tarball, ...] = ()
            if isinstance(entry.get("tarball"), str):
                try:
                    tarballs = (self.tarball(entry["tarball"], entry.get("sha256")),)
                except DepotError as exc:
                    problem = problem or f"distro {_label(distro)}: {exc}"
            if not packages and not tarballs:
                continue
            for role in entry.get("roles") or ():
                if isinstance(role, str) and role in roles:
                    had = found.get(role, RoleSoftware())
                    found[role] = RoleSoftware(had.packages + packages,
                                               had.tarballs + tarballs)
        return found, problem


def _label(distro: Mapping[str, Any] | None) -> str:
    distro = distro or {}
    return "-".join(str(distro[k]) for k in ("name", "version") if distro.get(k))


def _sidecar(path: Path) -> str | None:
    sidecar = path.with_name(path.name + ".sha256")
    try:
        words = sidecar.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return None
    return words[0] if words else None
