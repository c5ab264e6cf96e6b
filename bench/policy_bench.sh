#!/bin/sh
# policy_bench.sh BUILD — bench/policy_eval (make bench-policy) as part of
# make bench: its two figures, with their goals from the policy issue, go to
# bench/results/policy.md and policy.json (bench/common.sh).  The program's
# own runs (7 of 2,000,000 evaluations and 20,000 compilations) are fixed;
# it has no anchor: nothing else evaluates ODRL policies here.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
json_begin policy
out=$BENCH_RESULTS/policy.md
res=$("$build/bench/policy_eval")
printf '%s\n' "$res"
evals=$(printf '%s\n' "$res" | sed -n 's/^policy_eval:.* median \([0-9.]*\) evals.s.*/\1/p')
parse=$(printf '%s\n' "$res" | sed -n 's/^policy_parse:.* median \([0-9.]*\) us.*/\1/p')
with_json=$(printf '%s\n' "$res" | sed -n 's/^parse+compile incl. JSON text decoding: \([0-9.]*\) us.*/\1/p')
[ -n "$evals" ] && [ -n "$parse" ] || { echo "policy_bench: unexpected output" >&2; exit 1; }
cat >"$out" <<EOT
# Policy evaluation benchmark

Run by \`make bench-policy\` (bench/policy_eval.c, through bench/policy_bench.sh) on
$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg).
One thread; medians of 7 runs.

| measurement | result | goal |
|---|---|---|
| compiled evaluation of a permission with three constraints (dateTime window, purpose isAnyOf, count lteq) | ${evals} evaluations/s | ≥ 1,000,000 /s |
| parse + compile of a typical offer from a \`json_t\` | ${parse} µs | ≤ 20 µs |
| the same including JSON text decoding (last run) | ${with_json} µs | — |
EOT
echo "== written $out"
json_fig id=eval_rate "label=compiled evaluation, 3-constraint permission" value="$evals" \
	unit=evaluations/s "goal=>= 1000000"
json_fig id=parse_us "label=parse + compile of a typical offer (json_t)" value="$parse" unit=µs \
	better=lower "goal=<= 20"
json_fig id=parse_json_us "label=parse + compile incl. JSON text decoding" value="$with_json" \
	unit=µs better=lower
json_end
