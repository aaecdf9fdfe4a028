#!/bin/sh
# skywave setup: install every Debian package the project needs, by name.
# Idempotent: when everything is present it does nothing (no apt-get update).
# Uses sudo when not run as root.
set -eu

PKGS="build-essential cmake pkg-config git
libuv1-dev libsqlite3-dev sqlite3 zlib1g-dev libzstd-dev zstd libserialport-dev libinih-dev
libsodium-dev libncurses-dev libcmocka-dev libjansson-dev
libgmime-3.0-dev libpng-dev libjpeg62-turbo-dev xz-utils
python3 socat swaks tmux procps util-linux postfix curl ca-certificates pat
prometheus imagemagick fonts-dejavu-core"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "setup: all packages present"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

echo "setup: installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
