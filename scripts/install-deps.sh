#!/bin/sh
# install-deps.sh: installs guardlet's build and test dependencies from Debian's archive; safe to re-run.
set -eu

# Build: compiler, make, pkg-config, the libraries the design card names (libev, libsystemd, libinih,
# jansson, libcurl, libcgroup, libyaml) and Check. Tests: python3 (integration harness), valgrind,
# clang-format, stress-ng (real load), util-linux's setpriv (dropping capabilities), systemd's
# systemd-analyze (unit verification; PID 1 need not be systemd).
PACKAGES="build-essential pkg-config libev-dev libsystemd-dev libinih-dev libjansson-dev
libcurl4-openssl-dev libcgroup-dev libyaml-dev check python3 valgrind clang-format stress-ng
util-linux systemd procps openssl"

# Shipping (issue 6): the metrics endpoint's HTTP server, Debian packaging and its checks, man pages
# from scdoc sources linted with mandoc, YAML lint for the Kubernetes manifests.
PACKAGES="$PACKAGES libmicrohttpd-dev debhelper fakeroot lintian scdoc mandoc man-db yamllint"
# The manifest and RBAC tests read the Kubernetes YAML (ClusterRole, ConfigMap, DaemonSet) in Python.
PACKAGES="$PACKAGES python3-yaml"

# The node VM (issue 7): root filesystem from Debian's archive, QEMU under software emulation,
# ext4 images without loop mounts, and earlyoom as the peer in the benchmarks.
PACKAGES="$PACKAGES mmdebstrap qemu-system-x86 e2fsprogs earlyoom"

# Offline manifest validation runs under Node.js. These machines ship Node.js with its own npm;
# Debian's npm package would conflict with it, so it is only asked for when npm is missing.
if ! command -v npm >/dev/null 2>&1; then
    PACKAGES="$PACKAGES nodejs npm"
fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all dependencies present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing:$missing; run as root (or with sudo) to install them" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # the list is meant to split into words
apt-get install -y -q --no-install-recommends $missing
