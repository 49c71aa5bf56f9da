#!/usr/bin/env bash
# The whole test suite: lint, layer contracts, unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

echo "== ruff"
.venv/bin/ruff check src tests bench scripts
echo "== import-linter (layer contracts)"
.venv/bin/lint-imports
echo "== pytest"
set +e
.venv/bin/pytest -q -p no:cacheprovider "$@"
status=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite, not a pass
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests" >&2
    exit 1
fi
# The Heat plugins inside the real Heat engine, in a venv of their own (Heat pins its own
# versions of libraries the server uses); part of a whole-suite run (no arguments)
if [ "$#" -eq 0 ]; then
    bash scripts/setup-heat.sh
    echo "== pytest: Heat plugins in the real Heat engine (.venv-heat)"
    set +e
    # their servers keep SQLite: .venv-heat has no PostgreSQL or MariaDB driver
    NDOVU_TEST_DATABASE=sqlite .venv-heat/bin/pytest -q -p no:cacheprovider \
        tests/heat/test_stack_*.py
    heat_status=$?
    set -e
    if [ "$heat_status" -eq 5 ]; then
        echo "pytest collected no Heat tests" >&2
        exit 1
    fi
    [ "$status" -ne 0 ] || status=$heat_status
fi
exit "$status"
