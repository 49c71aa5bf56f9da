#!/bin/sh
# The boot of a test bed host. Runs as PID 1 of fresh mount, UTS, IPC and PID namespaces
# inside the host's network namespace (started by tests/testbed/host.py):
#   sh boot.sh LOWER UPPER WORK ROOT HOSTNAME
# Mounts the host's root (overlay: shared image + per-host upper layer) and its own
# proc, sysfs (read-only), /dev (tmpfs, nodes made with mknod: host device nodes are
# NEVER bind-mounted), devpts, /dev/shm, /run, /tmp; sets the hostname; pivot_root;
# execs tini with /sbin/init-script (sshd, then idle). Mount propagation is private
# (unshare's default): nothing here is seen outside, and it all vanishes with PID 1.
set -eu
lower=$1 upper=$2 work=$3 root=$4 name=$5

mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"

mount -t tmpfs -o nosuid,noexec,mode=0755,size=1m tmpfs "$root/dev"
mknod -m 0666 "$root/dev/null" c 1 3
mknod -m 0666 "$root/dev/zero" c 1 5
mknod -m 0666 "$root/dev/full" c 1 7
mknod -m 0666 "$root/dev/random" c 1 8
mknod -m 0666 "$root/dev/urandom" c 1 9
mknod -m 0666 "$root/dev/tty" c 5 0
mkdir -m 0755 "$root/dev/pts"
mkdir -m 1777 "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"

mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs "$root/run"
mkdir -m 1777 "$root/run/lock"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/tmp"

echo "$name" >/proc/sys/kernel/hostname

cd "$root"
pivot_root . mnt
cd /
umount -l /mnt
exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb container=ndovu-testbed \
    /usr/bin/tini -s -- /sbin/init-script
