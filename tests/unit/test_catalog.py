import json
from pathlib import Path

import pytest

from ndovu.catalog import BUILTIN_DIR, Catalog, CatalogProblem, type_slug
from ndovu.errors import SpecError
from ndovu.spec import expand
from ndovu.spec.model import RoleSoftware

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
ZK_SPEC = json.loads((BUILTIN_DIR / "specs" / "ndovu" / "zookeeper" / "spec.json").read_text())


@pytest.fixture
def make_catalog_dir(tmp_path):
    """Write a BDE-layout folder: ``specs`` maps spec paths to JSON objects or raw text."""
    count = 0

    def make(map_entries, specs=None, manifest=None) -> Path:
        nonlocal count
        count += 1
        root = tmp_path / f"catalog{count}"
        (root / "specs").mkdir(parents=True)
        (root / "specs" / "map").write_text(
            map_entries if isinstance(map_entries, str) else json.dumps(map_entries))
        for rel, content in (specs or {}).items():
            path = root / "specs" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content if isinstance(content, str) else json.dumps(content))
        if manifest is not None:
            (root / "distros").mkdir()
            (root / "distros" / "manifest").write_text(
                manifest if isinstance(manifest, str) else json.dumps(manifest))
        return root

    return make


@pytest.fixture
def seed_catalog_dir(make_catalog_dir):
    """The seeds' map and manifest entries; the Kubernetes spec file is deliberately absent."""
    return make_catalog_dir(
        json.loads((SEEDS / "map_entries.json").read_text()),
        specs={
            "Ironfan/mesos/basic/spec.json": (SEEDS / "mesos_heat_gson_spec.json").read_text(),
            "Ironfan/mesos/flocker/spec.json": (SEEDS / "mesos_flocker_spec.json").read_text(),
            "Ironfan/hadoop2/donly/spec.json": (SEEDS / "hdfs_only_spec.json").read_text(),
        },
        manifest=json.loads((SEEDS / "manifest_entries.json").read_text()),
    )


def operator_types(catalog: Catalog) -> list[str]:
    """The names of the types that came from operator folders, not the built-in catalog."""
    builtin = str(BUILTIN_DIR)
    return [t.name for t in catalog.types() if not t.spec_file.startswith(builtin)]


def entry(**fields):
    return {"vendor": "Apache", "version": "^3\\.\\d+", "type": "Test Type",
            "appManager": "Default", "path": "t/spec.json", **fields}


def test_builtin_catalog_has_zookeeper():
    catalog = Catalog.load()
    assert catalog.problems == []
    zk = catalog.get("zookeeper")
    assert (zk.name, zk.display_type, zk.vendor, zk.app_manager) == (
        "zookeeper", "ZooKeeper Ensemble", "Apache", "Default")
    assert zk.path == "ndovu/zookeeper/spec.json" and zk.description
    assert zk.roles == ("zookeeper",)
    assert zk.distro == {"name": "zookeeper", "vendor": "Apache", "version": "3.8",
                         "packages": [{"deb": ["libzookeeper-java", "default-jre-headless"],
                                       "roles": ["zookeeper"]}]}
    # the node's package manager installs what the manifest names, per role
    assert zk.software == {"zookeeper": RoleSoftware(("libzookeeper-java",
                                                      "default-jre-headless"))}
    assert zk.software_problem is None
    g = zk.spec.groups[0]
    assert (g.name, g.group_type, g.ha_flag) == ("zookeeper", "zookeeper", "on")
    assert (g.instance_num.default, g.instance_num.minimum, g.instance_num.maximum) == (3, 3, 3)
    plan = expand(zk.spec, cluster_name="zk1", cluster_type=zk.name)
    assert [n.name for n in plan.nodes()] == ["zk1-zookeeper-0", "zk1-zookeeper-1",
                                              "zk1-zookeeper-2"]
    assert plan.groups[0].storage_gb == 2 and plan.groups[0].storage_type == "LOCAL"


def test_get_by_slug_display_type_and_case():
    catalog = Catalog.load()
    assert catalog.get("zookeeper").name == "zookeeper"
    assert catalog.get("ZooKeeper Ensemble").name == "zookeeper"
    assert catalog.get("zookeeper ensemble").name == "zookeeper"
    assert catalog.get(" ZOOKEEPER ").name == "zookeeper"


def test_unknown_type_lists_known_types(seed_catalog_dir):
    catalog = Catalog.load([seed_catalog_dir], include_builtin=False)
    with pytest.raises(SpecError) as err:
        catalog.get("riak")
    assert err.value.field == "type"
    assert "'riak'" in err.value.message
    assert ("known types: basic_mesos_cluster, hdfs_only_cluster, mesos_with_flocker_cluster"
            ) in err.value.message


def test_empty_catalog_says_so():
    with pytest.raises(SpecError) as err:
        Catalog.load(include_builtin=False).get("zookeeper")
    assert "no cluster types" in err.value.message


@pytest.mark.parametrize("display,slug", [
    ("Basic Mesos Cluster", "basic_mesos_cluster"),
    ("Mesos with Flocker Cluster", "mesos_with_flocker_cluster"),
    ("HDFS Only Cluster", "hdfs_only_cluster"),
    ("  Spark (2.x) / YARN ", "spark_2_x_yarn"),
])
def test_type_slugs(display, slug):
    assert type_slug(display) == slug


def test_seed_catalog_folder(seed_catalog_dir):
    catalog = Catalog.load([seed_catalog_dir])
    assert operator_types(catalog) == [
        "basic_mesos_cluster", "hdfs_only_cluster", "mesos_with_flocker_cluster"]

    mesos = catalog.get("Basic Mesos Cluster")
    assert (mesos.vendor, mesos.path) == ("Mesos", "Ironfan/mesos/basic/spec.json")
    assert mesos.distro["name"] == "mesos"  # vendor "MESOS" matches "Mesos"
    assert mesos.roles == ("mesos_chronos", "mesos_docker", "mesos_marathon", "mesos_master",
                           "mesos_slave", "zookeeper")
    flocker = catalog.get("mesos_with_flocker_cluster")
    assert flocker.distro["name"] == "mesos"
    assert "flocker_control" in flocker.roles
    hdfs = catalog.get("hdfs_only_cluster")
    assert hdfs.distro["name"] == "hadoop"  # the folder has none: the built-in manifest's
    assert catalog.get("zookeeper").distro["name"] == "zookeeper"

    # the Kubernetes entry points at a spec file that is absent: one problem, nothing hidden
    [problem] = catalog.problems
    assert problem.path == str(seed_catalog_dir / "specs" / "map")
    assert problem.field == "[0].path"
    assert "Ironfan/kubernetes/basic/spec.json" in problem.message
    assert "Basic Kubernetes Cluster" in problem.message


def test_every_seed_catalog_type_expands(seed_catalog_dir):
    for t in Catalog.load([seed_catalog_dir]).types():
        plan = expand(t.spec, cluster_name="tenant_01", cluster_type=t.name)
        assert plan.nodes()


def test_kubernetes_distro_matches_when_its_spec_exists(make_catalog_dir):
    k8s = json.loads((SEEDS / "map_entries.json").read_text())[0]
    spec = {"nodeGroups": [{"name": "master", "roles": ["kubernetes_master"],
                            "instanceNum": 1}]}
    root = make_catalog_dir([k8s], {k8s["path"]: spec},
                            json.loads((SEEDS / "manifest_entries.json").read_text()))
    t = Catalog.load([root], include_builtin=False).get("basic_kubernetes_cluster")
    assert t.distro["vendor"] == "KUBERNETES"


def test_bad_spec_in_operator_folder_is_reported_and_hides_nothing(make_catalog_dir):
    bad = json.loads(json.dumps(ZK_SPEC))
    bad["nodeGroups"][0]["instanceNum"] = "[3,x,max]"
    root = make_catalog_dir(
        [entry(name="broken", path="broken/spec.json"), entry(name="good", path="g/spec.json")],
        {"broken/spec.json": bad, "g/spec.json": ZK_SPEC},
    )
    catalog = Catalog.load([root])
    assert operator_types(catalog) == ["good"]
    assert catalog.problems == [CatalogProblem(
        str((root / "specs" / "broken" / "spec.json").resolve()),
        "nodeGroups[0].instanceNum",
        "broken/spec.json: nodeGroups[0].instanceNum: '[3,x,max]' is not a range; write "
        "'[default,min,max]' with integers, or 'max' for no upper bound",
    )]


def test_malformed_spec_json_is_reported_with_line_and_column(make_catalog_dir):
    root = make_catalog_dir(
        [entry(name="mesos", path="Mesos/spec.json")],
        {"Mesos/spec.json": (SEEDS / "bde_mesos_spec_unfixed.json").read_text()},
    )
    catalog = Catalog.load([root])
    [problem] = catalog.problems
    assert problem.path.endswith("Mesos/spec.json")
    assert "line 10 column 7" in problem.message
    assert operator_types(catalog) == []


@pytest.mark.parametrize("bad_entry,field,words", [
    ({"type": "X"}, "[0].vendor", "needs a non-empty 'vendor'"),
    (entry(path=""), "[0].path", "needs a non-empty 'path'"),
    (entry(version="^(3"), "[0].version", "not a valid regex"),
    (entry(name="Bad Name"), "[0].name", "lowercase letters"),
    (entry(name=3), "[0].name", "must be a string"),
    (entry(path="../../etc/passwd"), "[0].path", "leaves the specs folder"),
    ("not an object", "[0]", "must be an object"),
])
def test_bad_map_entries(make_catalog_dir, bad_entry, field, words):
    root = make_catalog_dir([bad_entry, entry(name="ok")], {"t/spec.json": ZK_SPEC})
    catalog = Catalog.load([root])
    [problem] = catalog.problems
    assert (problem.path, problem.field) == (str(root / "specs" / "map"), field)
    assert words in problem.message
    assert "ok" in [t.name for t in catalog.types()]


@pytest.mark.parametrize("text,words", [
    ("[{", "invalid JSON at line 1 column 3"),
    ('{"vendor": "x"}', "must be a JSON list"),
])
def test_bad_map_file(make_catalog_dir, text, words):
    root = make_catalog_dir(text)
    catalog = Catalog.load([root])
    [problem] = catalog.problems
    assert problem.path == str(root / "specs" / "map") and words in problem.message
    assert operator_types(catalog) == []


def test_missing_folder_and_map_are_problems(tmp_path):
    (tmp_path / "empty").mkdir()
    catalog = Catalog.load([tmp_path / "nowhere", tmp_path / "empty"])
    assert [p.path for p in catalog.problems] == [
        str(tmp_path / "nowhere"), str(tmp_path / "empty" / "specs" / "map")]
    assert operator_types(catalog) == []


def test_bad_manifest_entries_are_problems(make_catalog_dir):
    root = make_catalog_dir([entry(name="t")], {"t/spec.json": ZK_SPEC},
                            manifest=[{"vendor": "Apache"}, "x",
                                      {"name": "zk", "vendor": "Apache", "version": "3.9",
                                       "packages": [{"deb": ["zk"], "roles": ["zookeeper"]}]}])
    catalog = Catalog.load([root])
    assert [(p.field, p.path.endswith("manifest")) for p in catalog.problems] == [
        ("[0].name", True), ("[1]", True)]
    # as good a match as the built-in distro: the later folder's wins
    assert catalog.get("t").distro["name"] == "zk"


def test_duplicate_names_in_one_map(make_catalog_dir):
    root = make_catalog_dir([entry(name="t"), entry(name="t", type="Other")],
                            {"t/spec.json": ZK_SPEC})
    catalog = Catalog.load([root], include_builtin=False)
    assert catalog.get("t").display_type == "Test Type"
    assert [p.field for p in catalog.problems] == ["[1].name"]


def test_later_folders_override_earlier_types(make_catalog_dir):
    spec = json.loads(json.dumps(ZK_SPEC))
    spec["nodeGroups"][0]["instanceNum"] = "[5,5,5]"
    root = make_catalog_dir(
        [entry(name="zookeeper", type="ZooKeeper Ensemble", description="bigger")],
        {"t/spec.json": spec})
    catalog = Catalog.load([root])
    zk = catalog.get("zookeeper")
    assert zk.description == "bigger" and zk.spec.groups[0].instance_num.default == 5
    assert len(catalog.types()) == len(Catalog.load().types())  # replaced, not added


def test_distro_prefers_matching_version_then_roles(make_catalog_dir):
    manifest = [
        {"name": "old", "vendor": "apache", "version": "2.0", "packages": []},
        {"name": "kafka", "vendor": "Apache", "version": "3.1",
         "packages": [{"roles": ["kafka"]}]},
        {"name": "zk31", "vendor": "APACHE", "version": "3.1",
         "packages": [{"roles": ["zookeeper"]}]},
    ]
    root = make_catalog_dir([entry(name="t")], {"t/spec.json": ZK_SPEC}, manifest)
    assert Catalog.load([root], include_builtin=False).get("t").distro["name"] == "zk31"
