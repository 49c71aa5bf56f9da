#!/usr/bin/env bash
# Build (or reuse) the cached Debian 12 image and package repository of the integration
# test bed (tests/testbed). Needs root and the packages scripts/setup-testbed.sh installs.
#
#   bash scripts/testbed-image.sh     # progress on stderr; the last stdout line is the
#                                     # cache folder holding rootfs/ and repo/
#
# The cache lives in ${XDG_CACHE_HOME:-$HOME/.cache}/ndovu/testbed/<hash of the recipe>/
# (the recipe: this file, the suite, the mirror, the image's packages, the repo's
# packages). It is built under a lock in a *.building.* folder and renamed into place
# only when complete, so a crash never leaves a half-made image that is taken for good.
set -euo pipefail

SUITE=bookworm
IMAGE_PACKAGES=openssh-server,python3,ca-certificates,procps,iproute2,tini,netbase
# the software ndovu installs on the hosts over SSH: downloaded with its dependency
# closure relative to the image, NOT installed in the image
# (the JRE and its libraries for the depot's Spark, Kafka, Cassandra and HDFS: Kafka logs
# through Debian's log4j 1.2 and slf4j binding, HDFS serves WebHDFS with Jersey 1)
REPO_PACKAGES="zookeeper etcd-server etcd-client default-jre-headless liblog4j1.2-java
libslf4j-java libjersey1-core-java libjersey1-server-java libjersey1-servlet-java"
LOCK_WAIT=1800   # seconds to wait for another build of the same recipe

log() { echo "testbed-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"

# the mirror: NDOVU_TESTBED_MIRROR, else the first URIs of Debian's deb822 sources,
# else the first deb line of sources.list
mirror=${NDOVU_TESTBED_MIRROR:-}
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '$1 == "URIs:" { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt (set NDOVU_TESTBED_MIRROR)"

arch=$(dpkg --print-architecture)
recipe_hash=$(
    {
        cat "${BASH_SOURCE[0]}"
        printf '%s\n' "$SUITE" "$arch" "$mirror" "$IMAGE_PACKAGES" "$REPO_PACKAGES"
    } | sha256sum | cut -c1-16
)
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/ndovu/testbed
final=$cache_root/$recipe_hash

if [ -f "$final/complete" ]; then
    log "reusing $final"
    echo "$final"
    exit 0
fi

for tool in debootstrap dpkg-scanpackages unshare chroot flock; do
    command -v "$tool" >/dev/null 2>&1 \
        || die "$tool is missing: run scripts/setup-testbed.sh first"
done

mkdir -p "$cache_root"
exec 9>"$cache_root/$recipe_hash.lock"
log "waiting for the build lock $cache_root/$recipe_hash.lock"
flock -w "$LOCK_WAIT" 9 || die "another build held the lock for more than ${LOCK_WAIT}s"
if [ -f "$final/complete" ]; then   # built by someone else while we waited
    log "reusing $final"
    echo "$final"
    exit 0
fi

# remove what a crashed build left (we hold the lock: nobody else is building this
# recipe). Every mount of a build lives in a private mount namespace and dies with it;
# still, never delete through a mount point.
remove_tree() {
    local dir=$1
    if grep -qF " $dir" /proc/self/mountinfo; then
        die "$dir has mounts on it; unmount them, then run again"
    fi
    rm -rf --one-file-system -- "$dir"
}
for stale in "$cache_root/$recipe_hash".building.* "$final"; do
    [ -e "$stale" ] || continue
    log "removing the leftover of an unfinished build: $stale"
    remove_tree "$stale"
done

work=$cache_root/$recipe_hash.building.$$
trap 'log "build failed; removing $work"; remove_tree "$work" || true' EXIT
mkdir -p "$work"
rootfs=$work/rootfs
start=$SECONDS

# --- the image ----------------------------------------------------------------------
log "debootstrap $SUITE from $mirror (minbase + $IMAGE_PACKAGES), ~1 minute"
# in a private mount namespace: the proc/sys mounts debootstrap makes vanish with it
if ! unshare --mount --propagation private -- \
        debootstrap --variant=minbase --include="$IMAGE_PACKAGES" \
        "$SUITE" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
fi
log "debootstrap done in $((SECONDS - start))s; configuring the image"

rm -f "$rootfs"/etc/ssh/ssh_host_*            # every host gets its own key at start
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
: >"$rootfs/etc/machine-id"
: >"$rootfs/etc/resolv.conf"                  # hosts have no DNS
echo testbed >"$rootfs/etc/hostname"
: >"$rootfs/etc/apt/sources.list"            # written per host: the test bed's repo only
rm -f "$rootfs"/etc/apt/sources.list.d/*
printf '#!/bin/sh\n# no init system: never start services from maintainer scripts\nexit 101\n' \
    >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
echo 'LANG=C.UTF-8' >"$rootfs/etc/default/locale"
echo 'LANG=C.UTF-8' >>"$rootfs/etc/environment"
cat >"$rootfs/etc/apt/apt.conf.d/90testbed" <<'EOF'
// test bed hosts: a local flat repository, no recommends, no language files
APT::Install-Recommends "false";
Acquire::Languages "none";
Acquire::Retries "3";
EOF
mkdir -p "$rootfs/etc/ssh/sshd_config.d"
cat >"$rootfs/etc/ssh/sshd_config.d/testbed.conf" <<'EOF'
# test bed: root by key only, one per-host ed25519 host key
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
PidFile /run/sshd.pid
EOF
install -d -m 0700 "$rootfs/root/.ssh"
cat >"$rootfs/sbin/init-script" <<'EOF'
#!/bin/sh
# PID 1's child on a test bed host (tini is PID 1): start sshd, then idle until SIGTERM
mkdir -p /run/sshd
chmod 0755 /run/sshd
/usr/sbin/sshd
trap 'exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $!
done
EOF
chmod 0755 "$rootfs/sbin/init-script"
log "image ready ($(du -sh --one-file-system "$rootfs" | cut -f1))"

# --- the package repository -----------------------------------------------------------
log "downloading $REPO_PACKAGES with their dependencies in a chroot of the image"
repo=$work/repo
mkdir -p "$repo" "$work/chroot/upper/etc/apt" "$work/chroot/work" "$work/chroot/merged"
cp /etc/resolv.conf "$work/chroot/upper/etc/resolv.conf"   # the chroot uses the host's network
echo "deb $mirror $SUITE main" >"$work/chroot/upper/etc/apt/sources.list"
# an overlay over the image (a copy that costs nothing) and proc, in a private mount
# namespace: both vanish when this command ends, however it ends
# shellcheck disable=SC2016  # the script is fixed; its inputs are positional parameters
if ! unshare --mount --propagation private -- sh -euc '
        lower=$1 chroot=$2 packages=$3
        mount -t overlay overlay \
            -o "lowerdir=$lower,upperdir=$chroot/upper,workdir=$chroot/work" "$chroot/merged"
        mount -t proc proc "$chroot/merged/proc"
        opts="-o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false -o Acquire::Retries=3"
        chroot "$chroot/merged" apt-get -q $opts update
        # shellcheck disable=SC2086
        chroot "$chroot/merged" env DEBIAN_FRONTEND=noninteractive apt-get -q -y $opts \
            install --download-only --no-install-recommends $packages
    ' sh "$rootfs" "$work/chroot" "$REPO_PACKAGES" >"$work/download.log" 2>&1; then
    tail -n 30 "$work/download.log" >&2
    die "downloading the packages failed (log above)"
fi
find "$work/chroot/upper/var/cache/apt/archives" -maxdepth 1 -name '*.deb' \
    -exec mv -t "$repo" {} +
rm -rf --one-file-system "$work/chroot"
count=$(find "$repo" -maxdepth 1 -name '*.deb' | wc -l)
[ "$count" -gt 0 ] || die "no packages were downloaded"
log "indexing $count packages ($(du -sh "$repo" | cut -f1)) with dpkg-scanpackages"
(
    cd "$repo"
    dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null
    gzip -9 -k -n Packages
    # a Release file, so apt treats it as a proper (trusted=yes) flat repository
    {
        echo "Origin: ndovu-testbed"
        echo "Label: ndovu-testbed"
        echo "Suite: ./"
        echo "Architectures: $arch all"
        echo "Date: $(LC_ALL=C date -u -R)"
        echo "SHA256:"
        for f in Packages Packages.gz; do
            printf ' %s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
        done
    } >Release
)
# sanity: every requested package is in the index
for pkg in $REPO_PACKAGES; do
    grep -qx "Package: $pkg" "$repo/Packages" || die "$pkg is missing from the repository"
done

date -u +%FT%TZ >"$work/complete"
printf '%s\n' "$SUITE" "$mirror" "$IMAGE_PACKAGES" "$REPO_PACKAGES" >"$work/recipe"
mv -T "$work" "$final"
trap - EXIT
log "built $final in $((SECONDS - start))s"
echo "$final"
