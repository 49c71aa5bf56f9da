"""Load catalog folders laid out like BDE's ``/opt/serengeti/www``.

A folder holds ``specs/map`` (a JSON list of ``{vendor, version, type, appManager, path}``,
``path`` relative to ``specs/``), ``distros/manifest`` (a JSON list of ``{name, vendor,
version, packages}``), the spec files, and the depot files the manifests name under
``distros/`` (see ``ndovu.catalog.depot``). ndovu extension: a map entry may carry
``name`` (the short id used by the API) and ``description``.

A bad file or entry becomes a CatalogProblem and never hides the types that are fine:
one operator's typo must not take the whole catalog down.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ndovu.catalog.depot import DISTROS_FOLDER, Depot
from ndovu.catalog.model import CatalogProblem, CatalogType, type_slug
from ndovu.errors import SpecError
from ndovu.spec.parse import parse_spec_text

BUILTIN_DIR = Path(__file__).parent / "builtin"
MAP_FILE = Path("specs", "map")
MANIFEST_FILE = Path(DISTROS_FOLDER, "manifest")
TYPE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
REQUIRED_MAP_FIELDS = ("vendor", "version", "type", "path")


class Catalog:
    """The cluster types an operator offers, by short name."""

    def __init__(self, types: Iterable[CatalogType] = (),
                 problems: Iterable[CatalogProblem] = (),
                 distros: Iterable[dict[str, Any]] = (), depot: Depot | None = None):
        self._types = {t.name: t for t in types}
        # the files the distros name, which the server serves to nodes
        self.depot = depot or Depot([])
        self.problems: list[CatalogProblem] = list(problems)
        # every manifest's distros by name, a later folder's replacing an earlier one's
        # (BDE's GET /distros)
        by_name: dict[str, dict[str, Any]] = {}
        for distro in distros:  # later folders first
            by_name.setdefault(str(distro["name"]).lower(), dict(distro))
        self.distros: list[dict[str, Any]] = sorted(by_name.values(),
                                                    key=lambda d: str(d["name"]).lower())

    @classmethod
    def load(cls, dirs: Sequence[Path] = (), *, include_builtin: bool = True) -> Catalog:
        """Load the built-in catalog (unless told not to), then each of ``dirs``.

        A later folder's type replaces an earlier one of the same name. Distros are looked
        up across every folder's manifest once all maps are read, so an operator's type may
        use a built-in distro.
        """
        roots = [BUILTIN_DIR] if include_builtin else []
        roots += [Path(d) for d in dirs]
        loading = _Loading()
        for root in roots:
            loading.load_root(root)
        depot = Depot([root / DISTROS_FOLDER for root in reversed(roots)])
        types = []
        for t in loading.types.values():
            distro = _match_distro(t, loading.distros)
            software, problem = depot.software(distro, t.roles)
            types.append(replace(t, distro=distro, software=software,
                                 software_problem=problem))
        return cls(types, loading.problems, loading.distros, depot)

    def reject(self, name: str, field: str | None, message: str) -> None:
        """Withdraw a type found unusable after loading (e.g. configuration no role
        understands), keeping the reason among the problems."""
        rejected = self._types.pop(name)
        self.problems.append(CatalogProblem(rejected.spec_file, field, message))

    def types(self) -> list[CatalogType]:
        return sorted(self._types.values(), key=lambda t: t.name)

    def get(self, name: str) -> CatalogType:
        """Find a type by short name, display type or its slug, ignoring case."""
        key = name.strip().lower() if isinstance(name, str) else ""
        types = self.types()
        for match in (
            lambda t: t.name.lower() == key,
            lambda t: t.display_type.lower() == key,
            lambda t: t.name == type_slug(key),
        ):
            found = next((t for t in types if match(t)), None)
            if found:
                return found
        known = ", ".join(t.name for t in types)
        if not known:
            raise SpecError(
                f"unknown cluster type '{name}': the catalog has no cluster types",
                field="type",
                hint="check the catalog folders in the server configuration and their problems",
            )
        raise SpecError(
            f"unknown cluster type '{name}'; known types: {known}",
            field="type",
            hint="choose one of the known types",
        )


@dataclass
class _Loading:
    types: dict[str, CatalogType] = field(default_factory=dict)
    distros: list[dict[str, Any]] = field(default_factory=list)  # later folders first
    problems: list[CatalogProblem] = field(default_factory=list)

    def problem(self, path: Path, where: str | None, message: str) -> None:
        self.problems.append(CatalogProblem(str(path), where, message))

    def load_root(self, root: Path) -> None:
        if not root.is_dir():
            self.problem(root, None, f"catalog folder {root} does not exist or is not a folder")
            return
        manifest_path = root / MANIFEST_FILE
        if manifest_path.exists():  # optional: types without a distro still work
            self.distros[:0] = self.load_manifest(manifest_path)
        map_path = root / MAP_FILE
        entries = self.read_json(map_path)
        if entries is None:
            return
        if not isinstance(entries, list):
            self.problem(map_path, None, "the map must be a JSON list of entries "
                                         "{vendor, version, type, appManager, path}")
            return
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            loaded = self.load_entry(root, map_path, i, entry)
            if loaded is None:
                continue
            if loaded.name in seen:
                self.problem(map_path, f"[{i}].name", f"type name '{loaded.name}' is used "
                             "twice in this map; the first entry is kept, give this one a "
                             "different 'name'")
                continue
            seen.add(loaded.name)
            self.types[loaded.name] = loaded

    def load_manifest(self, path: Path) -> list[dict[str, Any]]:
        data = self.read_json(path)
        if data is None:
            return []
        if not isinstance(data, list):
            self.problem(path, None, "the manifest must be a JSON list of distros "
                                     "{name, vendor, version, packages}")
            return []
        distros = []
        for i, entry in enumerate(data):
            if not isinstance(entry, Mapping):
                self.problem(path, f"[{i}]", f"distro entry {i} must be an object")
                continue
            bad = _missing_strings(entry, ("name", "vendor"))
            if bad:
                self.problem(path, f"[{i}].{bad}", f"distro entry {i} needs a '{bad}' string")
                continue
            distros.append(dict(entry))
        return distros

    def load_entry(self, root: Path, map_path: Path, i: int,
                   entry: object) -> CatalogType | None:
        if not isinstance(entry, Mapping):
            self.problem(map_path, f"[{i}]", f"map entry {i} must be an object")
            return None
        label = f"map entry {i}" + (f" ('{entry['type']}')"
                                    if isinstance(entry.get("type"), str) else "")
        bad = _missing_strings(entry, REQUIRED_MAP_FIELDS)
        if bad:
            self.problem(map_path, f"[{i}].{bad}", f"{label} needs a non-empty '{bad}' string")
            return None
        for optional in ("name", "appManager", "description"):
            if optional in entry and not isinstance(entry[optional], str):
                self.problem(map_path, f"[{i}].{optional}",
                             f"{label}: '{optional}' must be a string")
                return None
        try:
            re.compile(entry["version"])
        except re.error as e:
            self.problem(map_path, f"[{i}].version",
                         f"{label}: version '{entry['version']}' is not a valid regex: {e}")
            return None
        name = entry.get("name") or type_slug(entry["type"])
        if not TYPE_NAME_RE.fullmatch(name):
            self.problem(map_path, f"[{i}].name", f"{label}: type name '{name}' must be "
                         "lowercase letters, digits, '_' or '-'")
            return None

        specs = (root / MAP_FILE).parent.resolve()
        spec_path = (specs / entry["path"]).resolve()
        if not spec_path.is_relative_to(specs):
            self.problem(map_path, f"[{i}].path", f"{label}: path '{entry['path']}' leaves "
                         "the specs folder; give a path relative to specs/")
            return None
        if not spec_path.is_file():
            self.problem(map_path, f"[{i}].path", f"{label}: spec file '{entry['path']}' "
                         f"does not exist (looked for {spec_path})")
            return None
        try:
            text = spec_path.read_text(encoding="utf-8")
            spec = parse_spec_text(text, source=entry["path"])
        except (OSError, UnicodeDecodeError) as e:
            self.problem(spec_path, None, f"cannot read spec file: {e}")
            return None
        except SpecError as e:
            self.problem(spec_path, e.field, e.message)
            return None
        return CatalogType(
            name=name,
            display_type=entry["type"],
            vendor=entry["vendor"],
            version=entry["version"],
            app_manager=entry.get("appManager") or "Default",
            path=entry["path"],
            spec_file=str(spec_path),
            description=entry.get("description") or "",
            spec=spec,
            distro=None,
            roles=tuple(sorted({r for g in spec.groups for r in g.roles})),
        )

    def read_json(self, path: Path) -> Any | None:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.problem(path, None, f"{path.name} is missing; expected it at {path}")
        except (OSError, UnicodeDecodeError) as e:
            self.problem(path, None, f"cannot read {path.name}: {e}")
        except json.JSONDecodeError as e:
            self.problem(path, None, f"invalid JSON at line {e.lineno} column {e.colno}: "
                         f"{e.msg}")
        return None


def _missing_strings(entry: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    """The first of ``keys`` whose value is not a non-empty string."""
    return next((k for k in keys if not isinstance(entry.get(k), str) or not entry[k]), None)


def _match_distro(t: CatalogType, distros: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The manifest entry of the type's vendor (case-insensitive).

    Among several, prefer one whose version matches the map's version regex, then the one
    providing most of the spec's roles, then the one from the latest folder.
    """
    vendor = t.vendor.lower()
    candidates = [d for d in distros if d["vendor"].lower() == vendor]
    if not candidates:
        return None

    def score(d: dict[str, Any]) -> tuple[bool, int]:
        version_ok = bool(re.match(t.version, str(d.get("version", ""))))
        provided = {r for p in d.get("packages") or [] if isinstance(p, Mapping)
                    for r in p.get("roles") or [] if isinstance(r, str)}
        return version_ok, len(provided & set(t.roles))

    return dict(max(candidates, key=score))  # max keeps the first of equals
