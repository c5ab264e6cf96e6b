#!/bin/sh
# catalog_bench.sh BUILD — the catalog benchmarks of issue 4 (make bench-catalog).
#
# On a private PostgreSQL (scripts/pg-test-cluster) and one agora-broker:
#   1. a 10,000-dataset catalog pushed by one participant, 3 runs (first
#      insert, then two full replacements with changed content);
#   2. 100 participants × 1,000 datasets = 100,000 datasets;
#   3. text+facet search latency (median, p95) over 3 runs of 300 sequential
#      queries, then queries/s with wrk (32 connections, 3 runs of 15 s);
#   4. the identical SQL (taken from the broker's debug log) through pgbench
#      with 32 clients as the anchor.
# Results go to bench/results/catalog.md (medians of the runs) and
# catalog.json (bench/common.sh).  Sizes and durations: RUNS (3),
# PARTICIPANTS (100; × 1,000 datasets), QUERIES (300 per latency run),
# WRK_SECONDS and PG_SECONDS (15); BENCH_QUICK=1 makes them 1, 10, 100, 3, 3.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
if [ "$BENCH_QUICK" = 1 ]; then q_runs=1 q_part=10 q_queries=100 q_wrk=3 q_pg=3
else q_runs=3 q_part=100 q_queries=300 q_wrk=15 q_pg=15; fi
RUNS=${RUNS:-$q_runs}
PARTICIPANTS=${PARTICIPANTS:-$q_part}
QUERIES=${QUERIES:-$q_queries}
WRK_SECONDS=${WRK_SECONDS:-$q_wrk}
PG_SECONDS=${PG_SECONDS:-$q_pg}
json_begin catalog
gen="$build/bench/catalog_gen"
broker="$build/bin/agora-broker"
work=$(mktemp -d /tmp/agora-catbench.XXXXXX)
chmod 0755 "$work"	# the cluster may run as another user (root → postgres)
mkdir -m 0777 "$work/pg"
key="bench-admin-key-0123456789"
out=$BENCH_RESULTS/catalog.md
bpid=""

cleanup() {
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
	scripts/pg-test-cluster stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

conninfo=$(scripts/pg-test-cluster start "$work/pg" | tail -n 1)
psql -q "$conninfo" -c "CREATE DATABASE catalog_bench" >/dev/null
db=$(echo "$conninfo" | sed 's/dbname=[^ ]*/dbname=catalog_bench/')
port=$(free_port)
url="http://127.0.0.1:$port"
# The broker runs twice: without its search cache (every answer computed
# by PostgreSQL) and with it (answers reused until the catalog changes).
start_broker() { # cache-ttl
	"$broker" --listen "127.0.0.1:$port" --db "$db" --data-dir "$work/data" --admin-key "$key" \
		--crawl-interval 0 --threads 4 --log-level debug --search-cache-ttl "$1" \
		>/dev/null 2>>"$work/broker.log" &
	bpid=$!
	for _ in $(seq 1 100); do
		curl -sf "$url/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
}
stop_broker() {
	kill "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null || true
	bpid=""
}
start_broker 0

echo "== push of 10,000 datasets ($RUNS runs)"
: >"$work/push10k"
for seed in $(seq 1 "$RUNS"); do
	"$gen" push "$url" "$key" 0 1 10000 "$seed" | tee -a "$work/push10k"
done
push_med=$(sed -n 's/.*ms=\([0-9.]*\).*/\1/p' "$work/push10k" | median)
push_all=$(sed -n 's/.*ms=\([0-9.]*\).*/\1/p' "$work/push10k" | tr '\n' ' ')

echo "== $PARTICIPANTS participants x 1,000 datasets"
t0=$(date +%s.%N)
"$gen" push "$url" "$key" 0 "$PARTICIPANTS" 1000 7 >"$work/push100"
t1=$(date +%s.%N)
load_s=$(echo "$t1 - $t0" | bc)
ndatasets=$(psql -qtA "$db" -c "SELECT count(*) FROM datasets WHERE NOT withdrawn")
psql -q "$db" -c "VACUUM ANALYZE" >/dev/null

query="q=traffic&theme=mobility"
# search_runs LABEL: sequential latency (3 runs of 300 varied queries) and
# wrk throughput (3 runs of 15 s, 32 connections, one query).
search_runs() {
	echo "== search latency, $1 ($RUNS runs of $QUERIES queries)"
	"$gen" query "$url" 100 >/dev/null	# warm-up
	: >"$work/lat"
	for _ in $(seq 1 "$RUNS"); do "$gen" query "$url" "$QUERIES" | tee -a "$work/lat"; done
	lat_med=$(sed -n 's/.*median_ms=\([0-9.]*\).*/\1/p' "$work/lat" | median)
	lat_p95=$(sed -n 's/.*p95_ms=\([0-9.]*\).*/\1/p' "$work/lat" | median)
	echo "== wrk, $1, 32 connections: /api/v1/catalog/datasets?$query"
	: >"$work/wrk"
	for _ in $(seq 1 "$RUNS"); do
		wrk -t2 -c32 -d"${WRK_SECONDS}s" --latency "$url/api/v1/catalog/datasets?$query" | tee -a "$work/wrk"
	done
	qps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/wrk" | median)
	wrk_p99=$(awk '$1=="99%" {print $2}' "$work/wrk" | tr '\n' ' ')
}
search_runs "no cache"
u_med=$lat_med; u_p95=$lat_p95; u_qps=$qps; u_p99=$wrk_p99
stop_broker
start_broker 10
search_runs "search cache on"
c_med=$lat_med; c_p95=$lat_p95; c_qps=$qps; c_p99=$wrk_p99

echo "== pgbench with the identical SQL"
: >"$work/broker.sqllog"
curl -sf "$url/api/v1/catalog/datasets?$query" >/dev/null
python3 - "$work/broker.log" "$work/bench.sql" <<'EOF'
import json, sys
stmts = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("msg") == "catalog sql":
        stmts[e["query"]] = (e["sql"], e["params"])
with open(sys.argv[2], "w") as f:
    for name in ("catalog facets", "catalog search"):
        sql, params = stmts[name]
        for i in range(len(params), 0, -1):
            sql = sql.replace("$%d" % i, "'" + params[i - 1].replace("'", "''") + "'")
        f.write(sql.replace("\n", " ") + ";\n")
EOF
: >"$work/pgbench"
for _ in $(seq 1 "$RUNS"); do
	pgbench -n -c 32 -j 2 -T "$PG_SECONDS" -f "$work/bench.sql" "$db" 2>/dev/null | tee -a "$work/pgbench"
done
pg_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgbench" | median)
pg_lat=$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' "$work/pgbench" | median)

mkdir -p bench/results
cat >"$out" <<EOF
# Catalog benchmarks

Run by \`make bench-catalog\` (bench/catalog_bench.sh) on $(date -u +%Y-%m-%dT%H:%MZ),
$(nproc) CPUs, PostgreSQL $(psql -qtA "$db" -c 'SHOW server_version'), broker with 4 threads.
Medians of $RUNS runs.

| measurement | result | goal |
|---|---|---|
| push of 10,000 datasets (one participant, HTTP round trip incl. validation, indexing, commit) | ${push_med} ms (runs: ${push_all}) | ≤ 5,000 ms |
| load of $PARTICIPANTS participants × 1,000 datasets | ${load_s} s, ${ndatasets} datasets listed | — |
| text+facet search, sequential, computed every time (\`--search-cache-ttl 0\`): median | ${u_med} ms | — |
| text+facet search, sequential, computed every time: p95 | ${u_p95} ms | ≤ 25 ms |
| \`/api/v1/catalog/datasets?${query}\`, wrk 32 connections, computed every time | ${u_qps} requests/s (p99 per run: ${u_p99}) | — |
| text+facet search, sequential, with the search cache (default): median / p95 | ${c_med} ms / ${c_p95} ms | — |
| \`/api/v1/catalog/datasets?${query}\`, wrk 32 connections, with the search cache | ${c_qps} requests/s (p99 per run: ${c_p99}) | ≥ 1,500 /s |
| the same two SQL statements, pgbench 32 clients | ${pg_tps} tps, ${pg_lat} ms average | anchor |

"Computed every time" runs the facet and page statements (two round trips to
PostgreSQL), JSON rendering and the access log for each request; the pgbench
figure is the ceiling the database alone allows for those statements on the
same machine.  With the search cache (the default) an answer is reused while
the catalog generation it was computed at is current (any push, offer,
visibility or participant change starts a new one) and for at most 10 s;
wrk repeats one query, so after the first request it measures the cache.  Search queries vary
over 20 topics × 12 themes (anonymous callers: only public offers).
EOF
echo "== written $out"
cat "$out"

json_param runs "$RUNS"; json_param participants "$PARTICIPANTS"; json_param datasets "$ndatasets"
json_param queries_per_run "$QUERIES"; json_param wrk_seconds "$WRK_SECONDS"
json_param pgbench_seconds "$PG_SECONDS"; json_param query "$query"
json_fig id=push_10k "label=push of 10,000 datasets (one participant, HTTP round trip)" \
	value="$push_med" unit=ms better=lower "goal=<= 5000"
json_fig id=load_datasets "label=load of $PARTICIPANTS participants × 1,000 datasets" \
	value="$load_s" unit=s better=lower
json_fig id=search_median_nocache "label=text+facet search, sequential, no cache: median" \
	value="$u_med" unit=ms better=lower
json_fig id=search_p95_nocache "label=text+facet search, sequential, no cache: p95" \
	value="$u_p95" unit=ms better=lower "goal=<= 25"
json_fig id=search_qps_nocache "label=search, wrk 32 connections, computed every time" \
	value="$u_qps" unit=requests/s anchor="$pg_tps" anchor_unit=tps \
	"anchor_label=the same two SQL statements, pgbench 32 clients"
json_fig id=search_median_cache "label=text+facet search, sequential, search cache: median" \
	value="$c_med" unit=ms better=lower
json_fig id=search_p95_cache "label=text+facet search, sequential, search cache: p95" \
	value="$c_p95" unit=ms better=lower
json_fig id=search_qps_cache "label=search, wrk 32 connections, with the search cache (default)" \
	value="$c_qps" unit=requests/s anchor="$pg_tps" anchor_unit=tps \
	"anchor_label=the same two SQL statements, pgbench 32 clients" "goal=>= 1500"
json_fig id=pgbench_latency "label=anchor: pgbench 32 clients, average latency" \
	value="$pg_lat" unit=ms better=lower
json_end
