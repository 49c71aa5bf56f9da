#!/usr/bin/env bash
# Idempotent set-up of the integration test bed (tests/testbed): the Debian packages it
# needs on this machine (only those missing), then the cached Debian image and package
# repository of the hosts (scripts/testbed-image.sh; ~2-3 minutes once, then reused).
# Needs root: the test bed makes network namespaces, a bridge, a firewall and mounts.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "setup-testbed: must run as root" >&2; exit 1; }

# command -> Debian package that provides it
declare -A provider=(
    [debootstrap]=debootstrap           # builds the image
    [dpkg-scanpackages]=dpkg-dev        # indexes the hosts' package repository
    [ssh-keygen]=openssh-client         # operator and host keys
    [ssh]=openssh-client
    [ssh-keyscan]=openssh-client
    [nft]=nftables                      # the bridge's firewall
    [ip]=iproute2                       # namespaces, veth pairs, the bridge
    [nsenter]=util-linux
    [unshare]=util-linux
    [flock]=util-linux
    [mknod]=coreutils
    [python3]=python3
)
missing=()
for cmd in "${!provider[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${provider[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    echo "setup-testbed: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
else
    echo "setup-testbed: Debian packages present"
fi

echo "setup-testbed: building or reusing the hosts' image and package repository"
dir=$(bash scripts/testbed-image.sh | tail -n 1)
echo "setup-testbed: test bed image and repository in $dir"
