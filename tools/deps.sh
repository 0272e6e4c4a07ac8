#!/bin/sh
# Install the build and test dependencies that are missing (Debian 12).
# Only asks apt when something is missing, so reruns are instant.
set -eu
PKGS="gcc make pkg-config libevent-dev libjson-c-dev libsystemd-dev"
[ "$#" -gt 0 ] && PKGS="$PKGS $*"
missing=""
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "uffdd: missing packages:$missing" >&2
	echo "uffdd: install them (as root: apt-get install$missing) and retry" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
