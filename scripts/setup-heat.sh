#!/usr/bin/env bash
# The Heat plugin's test environment: .venv-heat with OpenStack Heat 27 and its dependencies
# at the versions in tests/heat/constraints.txt, plus the test tools. A venv of its own:
# Heat pins versions of libraries the ndovu server also uses. The ndovu server the tests
# start runs from .venv (scripts/setup.sh). Idempotent; about 90 s the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-heat/bin/python ]; then
    echo "setup: creating .venv-heat"
    python3 -m venv .venv-heat
fi
stamp=.venv-heat/.heat-installed
if [ ! -f "$stamp" ] || [ tests/heat/constraints.txt -nt "$stamp" ]; then
    echo "setup: installing OpenStack Heat and the test tools into .venv-heat"
    .venv-heat/bin/pip install -q --disable-pip-version-check \
        -c tests/heat/constraints.txt openstack-heat pytest httpx kazoo
    touch "$stamp"
fi
