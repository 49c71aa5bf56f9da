"""The software depot's rules: where a manifest's tarball is found, its checksum, and what
the server may serve."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ndovu.catalog.depot import Depot, DepotError
from ndovu.spec.model import ClusterPlan, RoleSoftware, Tarball


def _folder(root: Path, files: dict[str, bytes | str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def test_a_later_folder_wins_and_the_checksum_is_computed(tmp_path: Path) -> None:
    early = _folder(tmp_path / "early", {"spark/s.tgz": b"early"})
    late = _folder(tmp_path / "late", {"spark/s.tgz": b"late"})
    tarball = Depot([late, early]).tarball("spark/s.tgz")
    assert tarball == Tarball("spark/s.tgz", hashlib.sha256(b"late").hexdigest(), 4)


def test_the_checksum_comes_from_the_manifest_else_a_sidecar(tmp_path: Path) -> None:
    digest = "ab" * 32
    folder = _folder(tmp_path, {"s.tgz": b"x", "s.tgz.sha256": f"{digest.upper()}  s.tgz\n"})
    depot = Depot([folder])
    assert depot.tarball("s.tgz").sha256 == digest  # sha256sum's format, any case
    assert depot.tarball("s.tgz", "cd" * 32).sha256 == "cd" * 32
    with pytest.raises(DepotError, match="must be 64 hex digits"):
        depot.tarball("s.tgz", "not-a-digest")


@pytest.mark.parametrize(("path", "words"), [
    ("https://example.org/kafka.tgz", "by URL"),
    ("../outside.tgz", "without '..'"),
    ("/etc/passwd", "relative"),
    ("missing.tgz", "is not in the depot"),
])
def test_bad_or_missing_tarballs_are_refused(tmp_path: Path, path: str, words: str) -> None:
    with pytest.raises(DepotError, match=words):
        Depot([_folder(tmp_path, {"other.tgz": b"x"})]).tarball(path)


def test_only_what_a_manifest_named_is_published(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"a/named.tgz": b"x", "a/other.tgz": b"y", "manifest": "[]"})
    depot = Depot([folder])
    depot.tarball("a/named.tgz")
    assert depot.published("a/named.tgz") == folder / "a" / "named.tgz"
    assert depot.published("./a/named.tgz") == folder / "a" / "named.tgz"
    for path in ("a/other.tgz", "manifest", "a/../manifest", "/a/named.tgz", ""):
        assert depot.published(path) is None


def test_a_distro_gives_each_role_its_packages_and_tarballs(tmp_path: Path) -> None:
    depot = Depot([_folder(tmp_path, {"spark.tgz": b"spark"})])
    distro = {"name": "spark", "version": "4", "packages": [
        {"tarball": "spark.tgz", "roles": ["spark_master", "spark_worker"]},
        {"deb": ["default-jre-headless"], "roles": ["spark_master", "not_in_the_type"]},
        {"package_repos": ["https://old.example/repo"], "roles": ["spark_master"]},
    ]}
    software, problem = depot.software(distro, ["spark_master", "spark_worker"])
    assert problem is None
    tarball = depot.tarball("spark.tgz")
    assert software == {"spark_master": RoleSoftware(("default-jre-headless",), (tarball,)),
                        "spark_worker": RoleSoftware((), (tarball,))}
    missing = {**distro, "packages": [{"tarball": "gone.tgz", "roles": ["spark_master"]}]}
    software, problem = depot.software(missing, ["spark_master"])
    assert software == {} and problem is not None
    assert problem.startswith("distro spark-4: tarball gone.tgz is not in the depot")


def test_plans_stored_before_tarballs_still_load() -> None:
    plan = ClusterPlan.from_dict({"name": "c", "type": "t", "groups": [],
                                  "software": {"zookeeper": ["libzookeeper-java"]}})
    assert plan.software == {"zookeeper": RoleSoftware(("libzookeeper-java",))}
    again = ClusterPlan.from_dict(plan.to_dict())
    assert again == plan
