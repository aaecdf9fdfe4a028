#!/bin/sh
# fetch_sendmail.sh DIR - unpack Debian's sendmail (and m4) into DIR without
# installing it: sendmail-bin conflicts with postfix as a package, but the
# daemon runs fine from an unpacked tree. Used by test_deliver_sendmail.py;
# CI's setup can run it once ahead of time.
set -eu
dir=${1:?usage: fetch_sendmail.sh DIR}
mkdir -p "$dir/debs"
cd "$dir/debs"
apt-get download sendmail-bin sendmail-cf m4 >/dev/null 2>&1 || {
	echo "fetch_sendmail: apt-get download failed (run apt-get update?)" >&2
	exit 1
}
for f in ./*.deb; do dpkg -x "$f" "$dir/root"; done
test -x "$dir/root/usr/libexec/sendmail/sendmail"
echo "$dir/root"
