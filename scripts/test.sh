#!/bin/sh
# skywave test command: set up, build with AddressSanitizer +
# UndefinedBehaviorSanitizer and warnings as errors, run the whole suite.
#
#   ./scripts/test.sh               the default suite (well under 15 minutes)
#   SKYWAVE_LONG_TESTS=1 ./scripts/test.sh   adds soak, crash and fuzz runs
#   SKYWAVE_TEST_BUILD=release ./scripts/test.sh   without sanitizers
set -eu
cd "$(dirname "$0")/.."

./scripts/setup.sh

build=build-test
sanitize=ON
btype=Debug
if [ "${SKYWAVE_TEST_BUILD:-}" = "release" ]; then
	build=build-test-release
	sanitize=OFF
	btype=Release
fi
long=OFF
if [ -n "${SKYWAVE_LONG_TESTS:-}" ]; then
	long=ON
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="$btype" \
	-DSKYWAVE_SANITIZE="$sanitize" -DSKYWAVE_WERROR=ON \
	-DSKYWAVE_LONG_TESTS="$long"
cmake --build "$build" -j "$(nproc)"

# The public corpus the re-encoding test runs over (fetched once; without
# network the corpus test skips and says so).
if ./scripts/fetch-corpus.sh; then
	export SKYWAVE_CORPUS_REQUIRED=1
else
	echo "test: corpus unavailable: the corpus test will be skipped" >&2
fi

# Leak checking stays on; abort on the first UBSan report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
cd "$build"
ctest --output-on-failure --timeout 600 -j "$(nproc)"
