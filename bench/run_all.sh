#!/bin/sh
# run_all.sh BUILD — make bench: every benchmark, one after the other, then
# bench/collect.py writes $BENCH_RESULTS/latest.json and $BENCH_REPORT
# (bench/REPORT.md).  A bench that fails does not stop the others; the run
# fails at the end and the report lists it as not run.
#   BENCH_ONLY="sig startup"   run only these (the report has only these)
#   BENCH_QUICK=1              the quick variant of each (bench/common.sh)
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BENCH_RESULTS=${BENCH_RESULTS:-bench/results}
BENCH_REPORT=${BENCH_REPORT:-bench/REPORT.md}
export BENCH_RESULTS BENCH_QUICK
mkdir -p "$BENCH_RESULTS" "$(dirname "$BENCH_REPORT")"
benches=${BENCH_ONLY:-}
benches=${benches:-ingest catalog negotiation transfer policy sig startup}
started=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== make bench: $benches$( [ "${BENCH_QUICK:-0}" = 1 ] && echo ' (quick)'), results in $BENCH_RESULTS"
args=""
for b in $benches; do
	t0=$(date +%s)
	echo "== bench $b: bench/${b}_bench.sh ($(date -u +%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
	bench/"${b}"_bench.sh "$build"
	st=$?
	echo "== bench $b: status $st, $(($(date +%s) - t0)) s"
	args="$args $b:$st"
done
# shellcheck disable=SC2086
python3 bench/collect.py "$BENCH_RESULTS" "$BENCH_REPORT" "$started" "$load0" $args
st=$?
echo "== make bench: $(($(date +%s) - started)) s; report: $BENCH_REPORT"
exit $st
