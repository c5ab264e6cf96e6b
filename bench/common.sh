# bench/common.sh — sourced by the bench scripts (from the top of the tree):
# where results go, and the machine-readable result each bench writes next
# to its .md, which bench/collect.py gathers into latest.json and REPORT.md.
#
#   BENCH_RESULTS   directory of the results (default bench/results)
#   BENCH_QUICK=1   shorter runs (each script picks its own smaller sizes
#                   and durations); the JSON and the report say "quick"
#
#   json_begin NAME                 start bench NAME's result
#   json_param KEY VALUE            a parameter of the run (rows, seconds, …)
#   json_fig key=value …            one figure: id, label, value, unit,
#                                   better (higher|lower), anchor,
#                                   anchor_label, anchor_unit, ratio (else
#                                   value / anchor), goal ("<= 5000",
#                                   ">= 0.9"), goal_on (value|ratio), note
#   json_end                        write $BENCH_RESULTS/NAME.json
#
# For the benches with a broker and connectors (they set build, work, key,
# bport, burl, pids and define pg DBNAME):
#   bench_start_broker              start the broker, wait for /healthz
#   register ID URL KEYFILE COUNTRY register a participant with its key
BENCH_RESULTS=${BENCH_RESULTS:-bench/results}
BENCH_QUICK=${BENCH_QUICK:-0}
mkdir -p "$BENCH_RESULTS"

json_begin() {
	json_name=$1
	json_lines=""
	json_load_start=$(cut -d' ' -f1-3 /proc/loadavg)
	json_t0=$(date +%s)
}
json_param() {
	json_lines="$json_lines$(printf 'param\037%s\037%s' "$1" "$2")
"
}
json_fig() {
	l=fig
	for a in "$@"; do l="$l$(printf '\037%s' "$a")"; done
	json_lines="$json_lines$l
"
}
json_end() {
	printf '%s' "$json_lines" | python3 bench/benchjson.py "$BENCH_RESULTS/$json_name.json" \
		"$json_name" "$BENCH_QUICK" "$json_load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" \
		"$(($(date +%s) - json_t0))"
	echo "== written $BENCH_RESULTS/$json_name.json"
}

bench_start_broker() {
	"$build/bin/agora-broker" --listen "127.0.0.1:$bport" --public-url "$burl" --db "$(pg broker)" \
		--data-dir "$work/broker" --admin-key "$key" --crawl-interval 0 --log-level warn \
		2>"$work/broker.log" &
	pids="$pids $!"
	until curl -sf "$burl/healthz" >/dev/null; do sleep 0.1; done
}

register() {
	jwk=$("$build/bin/agora-connector" --print-jwk --key "$3")
	curl -sf -H "Authorization: Bearer $key" "$burl/api/v1/participants" \
		-d "{\"id\":\"$1\",\"name\":\"$1\",\"endpoint\":\"$2\",\"jwks\":{\"keys\":[$jwk]},\"attributes\":{\"country\":\"$4\",\"industry\":\"public-sector\"}}" >/dev/null
}
