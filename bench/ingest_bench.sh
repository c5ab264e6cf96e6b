#!/bin/sh
# ingest_bench.sh BUILD — 1,000,000 observations ingested as one CSV upload
# through a real connector (make bench-ingest; part of make bench-catalog).
#
# Anchor: the same rows loaded with psql's \copy into an identical table in
# the same PostgreSQL, measured in the same run.  3 runs each; medians and
# the ratio go to bench/results/ingest.md and ingest.json (bench/common.sh).
# ROWS (1,000,000) and RUNS (3); BENCH_QUICK=1 makes them 100,000 and 1.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
if [ "$BENCH_QUICK" = 1 ]; then rows=${ROWS:-100000} runs=${RUNS:-1}
else rows=${ROWS:-1000000} runs=${RUNS:-3}; fi
json_begin ingest
work=$(mktemp -d /tmp/agora-ingestbench.XXXXXX)
chmod 0755 "$work"
mkdir -m 0777 "$work/pg"
out=$BENCH_RESULTS/ingest.md
key="bench-admin-key-0123456789"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	scripts/pg-test-cluster stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

conn=$(scripts/pg-test-cluster start "$work/pg")
port=$(cat "$work/pg/port")
psql "$conn" -qc "CREATE DATABASE broker" -c "CREATE DATABASE city" >/dev/null
bport=$(free_port); cport=$(free_port)
burl="http://127.0.0.1:$bport"; curl_="http://127.0.0.1:$cport"
"$build/bin/agora-broker" --listen "127.0.0.1:$bport" --db "host=127.0.0.1 port=$port user=agora dbname=broker" \
	--data-dir "$work/broker" --admin-key "$key" --log-level warn 2>"$work/broker.log" &
pids="$pids $!"
jwk=$("$build/bin/agora-connector" --print-jwk --key "$work/city.pem")
until curl -sf "$burl/healthz" >/dev/null; do sleep 0.1; done
curl -sf -H "Authorization: Bearer $key" "$burl/api/v1/participants" \
	-d "{\"id\":\"urn:agora:participant:city\",\"name\":\"City\",\"endpoint\":\"$curl_\",\"jwks\":{\"keys\":[$jwk]}}" >/dev/null
"$build/bin/agora-connector" --listen "127.0.0.1:$cport" --db "host=127.0.0.1 port=$port user=agora dbname=city" \
	--data-dir "$work/city" --broker "$burl" --participant-id urn:agora:participant:city \
	--key "$work/city.pem" --api-key "$key" --log-level warn 2>"$work/city.log" &
pids="$pids $!"
until curl -sf "$curl_/healthz" >/dev/null; do sleep 0.1; done

echo "generating $rows rows" >&2
awk -v n="$rows" 'BEGIN {
	print "timestamp,sensor,no2,pm10,status"
	for (i = 0; i < n; i++) {
		s = i % 100; t = 1767225600 + int(i / 100) * 3600
		printf "%s,sensor-%03d,%.1f,%.1f,ok\n", strftime("%Y-%m-%dT%H:%M:%SZ", t, 1), s, (i * 7) % 400 / 1.0, (i * 3) % 150 / 1.0
	}
}' > "$work/obs.csv"
# The anchor's input: the same rows in COPY text form, as the connector stores them.
awk -F, 'NR > 1 { printf "ds\t%s\t%s\t{\"no2\":%s,\"pm10\":%s,\"status\":\"%s\"}\n", $1, $2, $3, $4, $5 }' \
	"$work/obs.csv" > "$work/obs.copy"
size=$(wc -c < "$work/obs.csv")

schema='{"type":"observations","fields":[{"name":"no2","type":"number","min":0,"max":400},{"name":"pm10","type":"number","min":0,"max":1000},{"name":"status","type":"string"}],"timeField":"timestamp","thingField":"sensor"}'
: > "$work/agora.times"; : > "$work/copy.times"
for run in $(seq 1 "$runs"); do
	id=$(curl -sf -H "Authorization: Bearer $key" "$curl_/api/v1/datasets" \
		-d "{\"title\":\"bench $run\",\"accrualPeriodicity\":\"PT1H\",\"source\":$schema}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	t0=$(now)
	res=$(curl -sf -H "Authorization: Bearer $key" -H "Content-Type: text/csv" \
		--data-binary @"$work/obs.csv" "$curl_/api/v1/datasets/$id/observations")
	t1=$(now)
	acc=$(printf '%s' "$res" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted"])')
	[ "$acc" = "$rows" ] || { echo "run $run accepted $acc of $rows" >&2; exit 1; }
	echo "$t1 - $t0" | bc -l >> "$work/agora.times"
	psql "host=127.0.0.1 port=$port user=agora dbname=city" -q <<SQL >/dev/null
CREATE TABLE IF NOT EXISTS anchor (dataset_id text, ts timestamptz, thing text, vals jsonb);
CREATE INDEX IF NOT EXISTS anchor_by_time ON anchor (dataset_id, ts);
TRUNCATE anchor;
SQL
	t0=$(now)
	psql "host=127.0.0.1 port=$port user=agora dbname=city" -qc "\\copy anchor FROM '$work/obs.copy'" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc -l >> "$work/copy.times"
	echo "run $run: agora $(tail -n 1 "$work/agora.times") s, \\copy $(tail -n 1 "$work/copy.times") s" >&2
done
agora=$(median < "$work/agora.times"); anchor=$(median < "$work/copy.times")
ratio=$(echo "$agora / $anchor" | bc -l)
rate=$(echo "$rows / $agora" | bc -l)
{
	echo "# Observation ingest benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(uname -m); $rows rows, $(echo "$size / 1048576" | bc) MiB of CSV in one upload."
	echo
	echo "| measure | median of $runs |"
	echo "|---|---|"
	printf '| agora: POST …/observations (CSV parse, COPY, quality, in one transaction) | %.2f s (%.0f rows/s) |\n' "$agora" "$rate"
	printf '| anchor: psql \\copy of the same rows into the same table shape | %.2f s |\n' "$anchor"
	printf '| ratio agora / anchor | %.2f |\n' "$ratio"
	echo
	echo "Goal (issue 4): 1,000,000 observations by CSV in ≤ 20 s."
	echo "Runs (s): agora $(tr '\n' ' ' < "$work/agora.times"); anchor $(tr '\n' ' ' < "$work/copy.times")"
} > "$out"
cat "$out"

json_param rows "$rows"; json_param runs "$runs"; json_param csv_bytes "$size"
json_fig id=ingest_csv "label=$rows rows in one CSV upload (parse, COPY, quality, one transaction)" \
	value="$(printf '%.2f' "$agora")" unit=s better=lower anchor="$(printf '%.2f' "$anchor")" \
	"anchor_label=psql \\copy of the same rows into the same table shape" \
	"goal=<= 20" "note=goal for 1,000,000 rows"
json_fig id=ingest_rate "label=rows per second" value="$(printf '%.0f' "$rate")" unit=rows/s
json_end
