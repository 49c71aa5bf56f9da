"""An operator's catalog folder: new types appear without code changes, bad files are
reported with path, field and problem without hiding the rest, and types whose roles
ndovu cannot run are refused up front with the reason, through the real server and CLI."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from ndovu.catalog import BUILTIN_DIR
from tests.helpers import NDOVU, Server, processes_under, wait_operation

# on the database NDOVU_TEST_DATABASE names; scripts/test.sh runs it on SQLite only, for
# time (the tests marked `database` run on PostgreSQL and MariaDB as well)
pytestmark = pytest.mark.integration

SOLO_SPEC = {
    "nodeGroups": [{
        "name": "coordinator",
        "description": "A single ZooKeeper server, for development.",
        "roles": ["zookeeper"],
        "instanceNum": "[1,1,1]",
        "instanceType": "[SMALL,MEDIUM]",
        "storage": {"type": "[LOCAL]", "sizeGB": "[1,1,10]"},
    }],
    "configuration": {"zookeeper": {"tickTime": 1000}},
}
BROKEN_SPEC = {"nodeGroups": [{"name": "x", "roles": ["zookeeper"], "instanceNum": "[3,x,max]"}]}
# parses, but carries configuration no role understands: withdrawn when the server loads
MISCONFIGURED_SPEC = {**SOLO_SPEC, "configuration": {"zookeeper": {"tickTimes": 1000}}}
TOOLS = b"a depot file's bytes " * 100


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("operator-catalog")
    _write(root / "specs" / "acme" / "solo.json", SOLO_SPEC)
    _write(root / "specs" / "acme" / "broken.json", BROKEN_SPEC)
    _write(root / "specs" / "acme" / "misconfigured.json", MISCONFIGURED_SPEC)
    _write(root / "specs" / "map", [
        {"name": "zk_solo", "vendor": "Apache", "version": "^3\\.8", "type": "ZooKeeper Solo",
         "appManager": "Default", "path": "acme/solo.json",
         "description": "One ZooKeeper server for development."},
        {"name": "zk_broken", "vendor": "Apache", "version": "^3", "type": "Broken",
         "path": "acme/broken.json"},
        {"name": "zk_misconfigured", "vendor": "Apache", "version": "^3",
         "type": "Misconfigured", "path": "acme/misconfigured.json"},
    ])
    # types whose distros name depot tarballs: one not published, one whose published
    # checksum is not the file's
    for name in ("zk_missing", "zk_tampered"):
        _write(root / "specs" / "depot" / f"{name}.json", SOLO_SPEC | {"configuration": {}})
    map_entries = json.loads((root / "specs" / "map").read_text()) + [
        {"name": name, "vendor": vendor, "version": "1", "type": name,
         "path": f"depot/{name}.json"}
        for name, vendor in (("zk_missing", "Missing"), ("zk_tampered", "Tampered"))]
    _write(root / "specs" / "map", map_entries)
    (root / "distros" / "zk").mkdir(parents=True)
    (root / "distros" / "zk" / "tools.tgz").write_bytes(TOOLS)
    (root / "distros" / "zk" / "unnamed.txt").write_text("not in any manifest")
    _write(root / "distros" / "manifest", [
        {"name": "acme-zookeeper", "vendor": "Apache", "version": "3.8",
         "packages": [{"deb": ["zookeeper"], "roles": ["zookeeper"]}]},
        {"name": "missing", "vendor": "Missing", "version": "1.0",
         "packages": [{"tarball": "zk/absent.tgz", "roles": ["zookeeper"]}]},
        {"name": "tampered", "vendor": "Tampered", "version": "1.0",
         "packages": [{"tarball": "zk/tools.tgz", "sha256": "0" * 64,
                       "roles": ["zookeeper"]}]},
    ])
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, catalog_dir: Path):
    srv = Server(tmp_path_factory.mktemp("state"), subnet="127.69.0.0/16",
                 catalog_dirs=(catalog_dir,)).start()
    yield srv
    srv.stop()
    for pid in processes_under(srv.state_dir):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = server.cli_env()
    return subprocess.run([str(NDOVU), *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_operator_type_appears_beside_the_builtin_ones(server: Server) -> None:
    with server.client() as c:
        catalog = c.get("/v1/catalog").json()
    names = {t["name"] for t in catalog["types"]}
    assert {"zk_solo", "zookeeper"} <= names
    assert not {"zk_broken", "zk_misconfigured"} & names
    solo = next(t for t in catalog["types"] if t["name"] == "zk_solo")
    assert solo["type"] == "ZooKeeper Solo" and solo["distro"] == "acme-zookeeper"
    assert solo["runnableHere"] is True and solo["runsOn"] == ["local", "machines", "openstack"]
    [group] = solo["nodeGroups"]
    assert group["instanceNum"] == {"default": 1, "min": 1, "max": 1}
    assert group["storage"]["sizeGB"] == {"default": 1, "min": 1, "max": 10}
    assert solo["configuration"] == {"zookeeper": {"tickTime": 1000}}
    [role] = solo["roleDetails"]
    assert role["name"] == "zookeeper" and role["configSection"] == "zookeeper"
    assert "tickTime" in {s["name"] for s in role["settings"]}


def test_a_bad_spec_file_is_reported_with_path_and_field(server: Server,
                                                         catalog_dir: Path) -> None:
    with server.client() as c:
        problems = c.get("/v1/catalog").json()["problems"]
    [problem] = [p for p in problems if p["path"].endswith("broken.json")]
    assert problem["path"] == str((catalog_dir / "specs/acme/broken.json").resolve())
    assert problem["field"] == "nodeGroups[0].instanceNum"
    assert "[3,x,max]" in problem["message"]
    [misconfigured] = [p for p in problems if p["path"].endswith("misconfigured.json")]
    assert misconfigured["field"] == "configuration.zookeeper.tickTimes"
    assert "tickTimes" in misconfigured["message"]
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "never", "type": "zk_misconfigured"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "type"
    listed = _cli(server, "catalog", "list")
    assert listed.returncode == 0, listed.stderr
    assert "zk_solo" in listed.stdout and "broken.json" in listed.stderr


def test_operator_type_deploys_with_its_configuration(server: Server) -> None:
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "solo", "type": "zk_solo"})
        assert r.status_code == 202, r.text
        assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"
        cluster = c.get("/v1/clusters/solo").json()
        assert cluster["status"] == "RUNNING"
        [node] = [n for g in cluster["nodeGroups"] for n in g["instances"]]
        zoo_cfg = (server.state_dir / "nodes" / node["name"] / "conf" / "zoo.cfg").read_text()
        assert "tickTime=1000" in zoo_cfg.splitlines()
        assert wait_operation(c, c.delete("/v1/clusters/solo").json()["id"])["status"] == (
            "COMPLETED")


def test_a_type_whose_roles_ndovu_cannot_run_is_refused_up_front(server: Server) -> None:
    with server.client() as c:
        mesos = c.get("/v1/catalog/mesos").json()
        assert mesos["runnableHere"] is False and mesos["runsOn"] == []
        assert "mesos_master" in mesos["notRunnableReason"]
        r = c.post("/v1/clusters", json={"name": "m1", "type": "mesos"})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert "cannot run on the local provider" in error["message"]
        assert "mesos_master" in error["message"]
        assert c.get("/v1/clusters/m1").status_code == 404
        assert not [op for op in c.get("/v1/operations").json()["operations"]
                    if op["target"] == "m1"]
    assert not (server.state_dir / "nodes").exists() or not [
        p for p in (server.state_dir / "nodes").iterdir() if p.name.startswith("m1-")]
    shown = _cli(server, "catalog", "show", "mesos")
    assert shown.returncode == 0, shown.stderr
    assert "cannot run on the local provider" in " ".join(shown.stdout.split())


def test_a_distro_whose_tarball_is_not_in_the_depot_cannot_run(server: Server) -> None:
    with server.client() as c:
        kind = c.get("/v1/catalog/zk_missing").json()
        assert kind["runnableHere"] is False
        assert kind["notRunnableReason"] == (
            "distro missing-1.0: tarball zk/absent.tgz is not in the depot (looked in "
            f"{server.catalog_dirs[0] / 'distros'}, {BUILTIN_DIR / 'distros'})")
        r = c.post("/v1/clusters", json={"name": "nodepot", "type": "zk_missing"})
        assert r.status_code == 422, r.text
        assert "zk/absent.tgz is not in the depot" in r.json()["error"]["message"]
        assert c.get("/v1/clusters/nodepot").status_code == 404  # nothing was made


def test_the_depot_serves_what_manifests_name_and_nothing_else(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:  # nodes log in to nothing
        r = anonymous.get("/depot/zk/tools.tgz")
        assert r.status_code == 200 and r.content == TOOLS
        part = anonymous.get("/depot/zk/tools.tgz", headers={"Range": "bytes=0-6"})
        assert part.status_code == 206 and part.content == TOOLS[:7]  # downloads resume
        for path in ("zk/unnamed.txt", "manifest", "zk/../manifest", "..%2Fspecs%2Fmap",
                     "%2Fetc%2Fpasswd"):
            r = anonymous.get(f"/depot/{path}")
            assert r.status_code == 404, (path, r.status_code)
            assert "depot" in r.json()["error"]["message"]


def test_a_tarball_whose_checksum_does_not_match_fails_its_node(server: Server) -> None:
    # the node downloads the file and refuses it: the manifest's sha256 is not the file's
    with server.client() as c:
        r = c.post("/v1/clusters", json={"name": "tampered", "type": "zk_tampered"})
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"])
        assert op["status"] == "FAILED"
        assert "tampered-coordinator-0" in op["errorMessage"]
        assert "sha256" in op["errorMessage"] and "0" * 64 in op["errorMessage"]
        node = c.get("/v1/clusters/tampered").json()["nodeGroups"][0]["instances"][0]
        assert node["status"] == "BOOTSTRAP_FAILED" and "zk/tools.tgz" in node["errMessage"]
        op = wait_operation(c, c.delete("/v1/clusters/tampered").json()["id"])
        assert op["status"] == "COMPLETED", op
