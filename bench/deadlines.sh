#!/bin/sh
# B3 deadlines (BENCHMARKS.md): BY/ABY under 1.2x overload on hf-1200-hd
# with a faster second route for alternates; skywave's predictive scheduler
# against reactive and fifo, same seed, same traffic, one run.
# Run from the repository root through bench/run deadlines.
set -eu
B="${SKYWAVE_BUILD:-build}/bench/bench_deadlines"
if [ ! -x "$B" ]; then
	echo "deadlines: $B not built (cmake --build ${SKYWAVE_BUILD:-build} --target bench_deadlines)" >&2
	exit 1
fi
mkdir -p bench/results
exec "$B" --seed 20261123 --minutes 30 --load 1.2 \
	--profiles "${SKYWAVE_SRC:-.}/firmware-profiles" \
	--json bench/results/deadlines.json
