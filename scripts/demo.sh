#!/usr/bin/env bash
# The main job: set up, start `ndovu server` with its embedded defaults (SQLite in a state
# directory, the local provider, the engine in-process), deploy a real 3-node ZooKeeper
# ensemble from the built-in catalog, show it, and prove it works.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export NDOVU_STATE_DIR="${NDOVU_STATE_DIR:-$PWD/.state}"
export NDOVU_PORT="${NDOVU_PORT:-8470}"
export NDOVU_URL="http://127.0.0.1:${NDOVU_PORT}"
CLUSTER="${1:-demo_zookeeper}"
mkdir -p "$NDOVU_STATE_DIR"

healthy() { .venv/bin/python - "$NDOVU_URL" <<'PY'
import sys, httpx
try:
    sys.exit(0 if httpx.get(sys.argv[1] + "/v1/health", timeout=1).status_code == 200 else 1)
except httpx.HTTPError:
    sys.exit(1)
PY
}

if healthy; then
    echo "ndovu server already answers at $NDOVU_URL"
else
    echo "starting ndovu server at $NDOVU_URL (state in $NDOVU_STATE_DIR, log in $NDOVU_STATE_DIR/server.log)"
    nohup .venv/bin/ndovu server >>"$NDOVU_STATE_DIR/server.log" 2>&1 &
    echo $! >"$NDOVU_STATE_DIR/server.pid"
    for _ in $(seq 1 120); do
        healthy && break
        sleep 0.5
    done
    healthy || { echo "ndovu server did not answer within 60 s; see $NDOVU_STATE_DIR/server.log" >&2; exit 1; }
fi

# the first start made user 'admin' and wrote its password to a file only we can read;
# the token goes to ~/.config/ndovu/credentials.json (0600)
if ! .venv/bin/ndovu cluster list --json >/dev/null 2>&1; then
    .venv/bin/ndovu login --user admin --password-file "$NDOVU_STATE_DIR/initial-admin-password"
fi

if .venv/bin/ndovu cluster show "$CLUSTER" --json >/dev/null 2>&1; then
    echo "cluster $CLUSTER already exists:"
    .venv/bin/ndovu cluster show "$CLUSTER"
else
    .venv/bin/ndovu cluster create "$CLUSTER" --type zookeeper
fi

echo
.venv/bin/python scripts/prove_zookeeper.py "$CLUSTER"

cat <<EOT

The server keeps running (pid $(cat "$NDOVU_STATE_DIR/server.pid" 2>/dev/null || echo "?")); try:
  NDOVU_URL=$NDOVU_URL .venv/bin/ndovu cluster list
  NDOVU_URL=$NDOVU_URL .venv/bin/ndovu cluster delete $CLUSTER
  kill \$(cat $NDOVU_STATE_DIR/server.pid)     # stop the server; the nodes keep running
EOT
