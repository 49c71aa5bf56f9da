#!/usr/bin/env bash
# The OpenStack control plane the OpenStack provider's tests run against
# (tests/openstack/cloud.py): .venv-openstack with Keystone, Placement, Glance, Nova and
# Neutron at the versions in tests/openstack/constraints.txt, uWSGI to serve their APIs,
# and the test cloud's ML2 driver (tests/openstack/ml2_bind_all). A venv of its own: the
# services pin versions of libraries the ndovu server also uses. The services keep their
# data in the machine's MariaDB and talk over its RabbitMQ. Idempotent; about 3 minutes the
# first time (uWSGI compiles).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages only for what is missing: a compiler and Python's headers for uWSGI,
# the venv module, the database and the message broker
need_apt=()
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
python3 -c 'import sys, sysconfig, os; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
    || need_apt+=(python3-dev)
python3 -c 'import ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v mariadb >/dev/null 2>&1 || need_apt+=(mariadb-server)
command -v rabbitmqctl >/dev/null 2>&1 || need_apt+=(rabbitmq-server)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup-openstack: installing Debian packages: ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv-openstack/bin/python ]; then
    echo "setup-openstack: creating .venv-openstack"
    python3 -m venv .venv-openstack
fi
# reinstall only when the pins or the ML2 driver changed
stamp=.venv-openstack/.openstack-installed
if [ ! -f "$stamp" ] || [ -n "$(find tests/openstack/constraints.txt tests/openstack/ml2_bind_all \
        -newer "$stamp" -type f -print -quit)" ]; then
    log=.venv-openstack/pip.log
    pip=(.venv-openstack/bin/pip install --disable-pip-version-check)
    echo "setup-openstack: installing Keystone, Placement, Glance, Nova, Neutron and uWSGI (log: $log)"
    # the driver is built from a copy: an in-tree build leaves build/ and *.egg-info behind
    driver=$(mktemp -d)
    trap 'rm -rf "$driver"' EXIT
    cp -r tests/openstack/ml2_bind_all/. "$driver"
    if ! { "${pip[@]}" -c tests/openstack/constraints.txt keystone openstack-placement glance \
               nova neutron uwsgi pymysql \
           && "${pip[@]}" --no-deps --force-reinstall "$driver"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        exit 1
    fi
    touch "$stamp"
fi
