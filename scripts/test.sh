#!/usr/bin/env bash
# The whole test suite: lint, layer contracts, unit and integration tests on SQLite, the
# tests that use the database again on PostgreSQL and MariaDB, and the Heat plugins inside
# the real Heat engine. With arguments, only `pytest ARGS` on SQLite (after lint).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the test bed of Debian hosts (network namespaces, sshd, a package repository on its own
# bridge): Debian packages and an image built once and cached in ~/.cache/ndovu/testbed
bash scripts/setup-testbed.sh
# a real OpenStack control plane (Keystone, Placement, Glance, Nova, Neutron) for the
# OpenStack tests (tests/openstack), in .venv-openstack: ~2-3 min once, instant after
bash scripts/setup-openstack.sh
# the software depot's distributions the built-in catalog names (Spark from pyspark), built
# once into ~/.cache/ndovu/distros; the tests serve that folder to their nodes
bash scripts/build-distros.sh >/dev/null

echo "== ruff"
.venv/bin/ruff check src tests bench scripts
echo "== import-linter (layer contracts)"
.venv/bin/lint-imports

status=0
# run one pytest command; remember a failure and go on with the next command
run_pytest() {
    local label=$1
    shift
    echo "== pytest: $label"
    set +e
    "$@"
    local result=$?
    set -e
    # pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass
    if [ "$result" -eq 5 ]; then
        echo "pytest collected no tests ($label)" >&2
        result=1
    fi
    [ "$result" -eq 0 ] || status=$result
}

run_pytest "SQLite" env NDOVU_TEST_DATABASE=sqlite .venv/bin/pytest -q -p no:cacheprovider "$@"
if [ "$#" -eq 0 ]; then
    # the same migrations and behaviour on the machine's PostgreSQL and MariaDB servers:
    # the tests marked `database` (crash recovery, lifecycle, ZooKeeper clusters, the BDE
    # client, bad input, the in-process engine tests), each server on a throw-away
    # database of its own. Every other test honours NDOVU_TEST_DATABASE when run by hand
    for db in postgresql mariadb; do
        run_pytest "$db" env NDOVU_TEST_DATABASE=$db \
            .venv/bin/pytest -q -p no:cacheprovider -m database
    done
    # the Heat plugins inside the real Heat engine, in a venv of their own (Heat pins its
    # own versions of libraries the server uses); their servers keep SQLite: .venv-heat
    # has no PostgreSQL or MariaDB driver
    bash scripts/setup-heat.sh
    run_pytest "Heat plugins in the real Heat engine (.venv-heat)" \
        env NDOVU_TEST_DATABASE=sqlite .venv-heat/bin/pytest -q -p no:cacheprovider \
        tests/heat/test_stack_*.py
fi
exit "$status"
