#!/bin/sh
# negotiation_bench.sh BUILD — the contract negotiation benchmark of issue 5
# (make bench-negotiation).
#
# One private PostgreSQL (scripts/pg-test-cluster) with durability switched
# back ON (the test cluster turns fsync and synchronous_commit off), three
# databases on it: the broker's, the provider connector's (city) and the
# consumer connector's (mobility).  The city publishes one dataset with an
# autoAccept offer; the mobility connector negotiates it through the broker:
# consumer connector → broker → provider connector → broker → consumer,
# three signatures and a ledger entry per negotiation.
#   1. latency: 3 runs of 200 sequential negotiations (median, p95);
#   2. throughput: 3 runs of 20 s with 32 negotiations in flight;
#   3. anchor: pgbench on the same PostgreSQL with a script of as many write
#      transactions, inserted, updated and deleted rows as one negotiation
#      caused across the three databases (measured during latency run 1),
#      with 1 client (latency) and 32 clients (throughput);
#   4. CPU per negotiation during the throughput runs, agora's and the
#      anchor's (bench/cpu_ticks.py: the machine, PostgreSQL, each server),
#      and the Ed25519 signatures and verifications per negotiation (the
#      servers' /metrics) priced at openssl speed's rates: the anchor's CPU
#      plus theirs is a floor no implementation of these writes and
#      signatures goes under.
# The machine is shared: the three rounds interleave agora's runs with the
# anchor's, and each round's ratio agora / anchor is reported.
# Results (medians of the runs) go to bench/results/negotiation.md and
# negotiation.json (bench/common.sh).  LAT_N (200), TP_SECONDS (20), CONC
# (32), ROUNDS (3), ANCHOR1_SECONDS (10); BENCH_QUICK=1 makes LAT_N 50,
# TP_SECONDS 5, ROUNDS 1 and ANCHOR1_SECONDS 3.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
drv="$build/bench/negotiation_bench"
if [ "$BENCH_QUICK" = 1 ]; then q_lat=50 q_tp=5 q_rounds=1 q_a1=3
else q_lat=200 q_tp=20 q_rounds=3 q_a1=10; fi
LAT_N=${LAT_N:-$q_lat}
TP_SECONDS=${TP_SECONDS:-$q_tp}
CONC=${CONC:-32}
ROUNDS=${ROUNDS:-$q_rounds}
ANCHOR1_SECONDS=${ANCHOR1_SECONDS:-$q_a1}
json_begin negotiation
# Commits per negotiation that carry a NOTIFY: agora's own commits carry
# none (the outbox and the ledger wake their workers after the commit);
# the bench's trigger on the consumer's final commit does.  The anchor's
# second variant has that many notifying transactions.
NOTIFY_TX=1
work=$(mktemp -d /tmp/agora-negbench.XXXXXX)
chmod 0755 "$work"	# the cluster may run as another user (root → postgres)
mkdir -m 0777 "$work/pg"
key="bench-admin-key-0123456789"
out=$BENCH_RESULTS/negotiation.md
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	scripts/pg-test-cluster stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }	# field NAME < driver lines
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
conn=$(scripts/pg-test-cluster start "$work/pg")
port=$(cat "$work/pg/port")
# The servers, the driver and pgbench reach PostgreSQL over its Unix socket,
# as a deployment with the database on the same machine does by default
# (agora's --db default names no host); TCP when the cluster has no socket
# (scripts/pg-test-cluster makes none under a directory path too long).
if [ -S "$work/pg/.s.PGSQL.$port" ]; then pghost=$work/pg; else pghost=127.0.0.1; fi
pg() { echo "host=$pghost port=$port user=agora dbname=$1"; }
# Durability back on for this cluster (ALTER SYSTEM, then a reload: all
# three settings take effect without a restart).
psql -q "$conn" -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
	-c "ALTER SYSTEM SET full_page_writes = on" -c "SELECT pg_reload_conf()" >/dev/null
for d in broker city mobility anchor; do psql -q "$conn" -c "CREATE DATABASE $d" >/dev/null; done
sleep 0.5
for s in fsync synchronous_commit full_page_writes; do
	v=$(psql -qtA "$(pg broker)" -c "SHOW $s")
	[ "$v" = on ] || { echo "negotiation_bench: $s is $v, want on" >&2; exit 1; }
done

bport=$(free_port); cport=$(free_port); mport=$(free_port)
burl="http://127.0.0.1:$bport"; curl_="http://127.0.0.1:$cport"; murl="http://127.0.0.1:$mport"
city=urn:agora:participant:city; mobi=urn:agora:participant:mobility
bench_start_broker
# connector ID PORT DB NAME
connector() {
	"$build/bin/agora-connector" --listen "127.0.0.1:$2" --public-url "http://127.0.0.1:$2" \
		--db "$(pg "$3")" --data-dir "$work/$4" --broker "$burl" --participant-id "$1" \
		--key "$work/$4.pem" --api-key "$key" --push-debounce 20 --log-level warn \
		2>"$work/$4.log" &
	pids="$pids $!"
	until curl -sf "http://127.0.0.1:$2/healthz" >/dev/null; do sleep 0.1; done
}
register "$city" "$curl_" "$work/city.pem" FR
register "$mobi" "$murl" "$work/mobility.pem" DE
connector "$city" "$cport" city city
connector "$mobi" "$mport" mobility mobility

# The city publishes one dataset under an open policy, agreed automatically.
capi() { curl -sf -H "Authorization: Bearer $key" -H "Content-Type: application/json" "$curl_$1" -d "$2"; }
pol=$(capi /api/v1/policies '{"policy":{"@type":"Set","permission":[{"action":"use"}]}}' | jget id)
ds=$(capi /api/v1/datasets '{"title":"Air quality","theme":["environment"],"source":{"type":"file"}}' | jget id)
offer=$(capi /api/v1/offers "{\"datasetSelector\":{\"ids\":[\"$ds\"]},\"contractPolicyId\":\"$pol\",\"autoAccept\":true}" | jget id)
i=0
until curl -sf "$burl/api/v1/catalog/datasets/$ds" >/dev/null; do
	i=$((i + 1)); [ $i -lt 200 ] || { echo "the broker never listed $ds" >&2; exit 1; }
	sleep 0.05
done

# The driver learns that a negotiation ended from this trigger on the
# consumer's database (LISTEN), then confirms with one GET through the API.
psql -q "$(pg mobility)" >/dev/null <<'SQL'
CREATE FUNCTION bench_negotiation_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('agora_bench_negotiation', NEW.id || ' ' || NEW.state);
	RETURN NULL;
END $$;
CREATE TRIGGER bench_negotiation_notify AFTER UPDATE OF state ON negotiations
	FOR EACH ROW WHEN (NEW.state IN ('FINALIZED', 'TERMINATED') AND OLD.state IS DISTINCT FROM NEW.state)
	EXECUTE FUNCTION bench_negotiation_notify();
SQL
common="--url $murl --key $key --dataset $ds --offer $offer --provider $city"
notify="--notify postgresql:///mobility?host=$pghost&port=$port&user=agora"

echo "== warm-up (20 negotiations)"
"$drv" latency $common $notify --count 20

# Write profile of one negotiation: statistics of the three databases and
# WAL flushes of the cluster around latency run 1.  Backends report their
# counters when idle for a while, hence the pauses.
snapshot() {
	for d in broker city mobility; do
		psql -qtA "$(pg "$d")" -c "SELECT '$d', tup_inserted, tup_updated, tup_deleted, xact_commit FROM pg_stat_database WHERE datname = current_database()"
	done
	psql -qtA "$(pg broker)" -c "SELECT 'wal', wal_sync, wal_records, wal_bytes, 0 FROM pg_stat_wal"
}
sleep 11; snapshot >"$work/stat0"

echo "== latency run 1 ($LAT_N sequential negotiations), with the write profile"
: >"$work/lat"; : >"$work/tp"; : >"$work/backlog"
: >"$work/pgb1"; : >"$work/pgb32"; : >"$work/pgbn32"; : >"$work/cpu_tp"; : >"$work/cpu_anchor"; : >"$work/ed_tp"; : >"$work/cpu_anchorb"; : >"$work/pgbb32"
"$drv" latency $common $notify --count "$LAT_N" | tee -a "$work/lat"
sleep 11; snapshot >"$work/stat1"

# The per-negotiation profile, and the pgbench scripts built from it.
python3 - "$work/stat0" "$work/stat1" "$LAT_N" "$work" "$NOTIFY_TX" <<'EOF'
import sys
def load(p):
    return {l.split("|")[0]: [int(x) for x in l.strip().split("|")[1:]] for l in open(p) if "|" in l}
a, b, n, work = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per = {k: [(b[k][i] - a[k][i]) / n for i in range(4)] for k in a}
ins = sum(per[d][0] for d in ("broker", "city", "mobility"))
upd = sum(per[d][1] for d in ("broker", "city", "mobility"))
dele = sum(per[d][2] for d in ("broker", "city", "mobility"))
tx = per["wal"][0]
with open(work + "/profile", "w") as f:
    for d in ("broker", "city", "mobility"):
        f.write("| %s | %.1f | %.1f | %.1f | %.1f |\n" % (d, *per[d]))
    f.write("| all three | %.1f | %.1f | %.1f | %.1f |\n" % (ins, upd, dele,
            sum(per[d][3] for d in ("broker", "city", "mobility"))))
T, I, U, D = max(1, round(tx)), round(ins), round(upd), round(dele)
open(work + "/shape", "w").write("%d %d %d %d %.1f %.0f\n" % (T, I, U, D, tx, per["wal"][2]))
# Outbox-like rows: inserted in one transaction, deleted in a later one.
K = min(int(sys.argv[5]), T)
def script(notify):
    out = ["\\set n random(1, 100000)"]
    for t in range(T):
        out.append("BEGIN;")
        k_ins = I * (t + 1) // T - I * t // T
        k_upd = U * (t + 1) // T - U * t // T
        k_del = (D * (t + 1) // T - D * t // T) if t > 0 else 0
        for _ in range(k_ins):
            out.append("INSERT INTO anchor_msg (client, body) VALUES (:client_id, repeat('x', 1500));")
        for _ in range(k_upd):
            out.append("UPDATE anchor_neg SET state = 'S%d', updated_at = now() WHERE id = :n;" % t)
        for _ in range(k_del):
            out.append("DELETE FROM anchor_msg WHERE id = (SELECT id FROM anchor_msg WHERE client = :client_id ORDER BY id LIMIT 1);")
        if notify and t * K // T != (t + 1) * K // T:
            out.append("SELECT pg_notify('anchor', '');")
        out.append("COMMIT;")
    return "\n".join(out) + "\n"
# The same rows with each transaction's writes batched: one INSERT of all
# its rows, one UPDATE, one DELETE — what the writes would cost if agora
# sent one statement per table and transaction (a lower bound for them).
def batched():
    out = ["\\set n random(1, 100000)"]
    for t in range(T):
        out.append("BEGIN;")
        k_ins = I * (t + 1) // T - I * t // T
        k_del = (D * (t + 1) // T - D * t // T) if t > 0 else 0
        if k_ins:
            out.append("INSERT INTO anchor_msg (client, body) SELECT :client_id, repeat('x', 1500)"
                       " FROM generate_series(1, %d);" % k_ins)
        if U * (t + 1) // T - U * t // T:
            out.append("UPDATE anchor_neg SET state = 'S%d', updated_at = now() WHERE id = :n;" % t)
        if k_del:
            out.append("DELETE FROM anchor_msg WHERE id IN (SELECT id FROM anchor_msg"
                       " WHERE client = :client_id ORDER BY id LIMIT %d);" % k_del)
        out.append("COMMIT;")
    return "\n".join(out) + "\n"
open(work + "/anchor.sql", "w").write(script(False))
open(work + "/anchor_notify.sql", "w").write(script(True))
open(work + "/anchor_batched.sql", "w").write(batched())
EOF
read -r a_tx a_ins a_upd a_del wal_per wal_bytes <"$work/shape"
psql -q "$(pg anchor)" >/dev/null <<'SQL'
CREATE TABLE anchor_neg (id int PRIMARY KEY, state text NOT NULL, body jsonb NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO anchor_neg SELECT i, 'REQUESTED', jsonb_build_object('pad', repeat('y', 500))
	FROM generate_series(1, 100000) i;
CREATE TABLE anchor_msg (id bigserial PRIMARY KEY, client int NOT NULL, body text NOT NULL,
	at timestamptz NOT NULL DEFAULT now());
CREATE INDEX anchor_msg_client ON anchor_msg (client, id);
VACUUM ANALYZE;
SQL
echo "== anchor: pgbench, $a_tx transactions per script ($a_ins inserts, $a_upd updates, $a_del deletes)"
cat "$work/anchor.sql"
anchor1() {
	pgbench -n -c 1 -T "$ANCHOR1_SECONDS" -f "$work/anchor.sql" "$(pg anchor)" 2>/dev/null | tee -a "$work/pgb1" | grep -E '^(tps|latency)'
}
# CPU used during each throughput run (agora's and the anchor's), from
# /proc: the machine's busy time, the cluster's (postmaster and every
# backend, bench/cpu_ticks.py) and each server's; one line per run in
# cpu_tp / cpu_anchor: before, after, negotiations finished.
pm=$(head -1 "$work/pg/data/postmaster.pid")
ticks() { python3 bench/cpu_ticks.py "$pm" $pids; }
# Ed25519 signatures made and checked (by the curve arithmetic) by the three
# servers: their /metrics counters (sign, verify, verify_remembered), summed.
edops() {
	for u in "$burl" "$curl_" "$murl"; do curl -sf "$u/metrics"; done | awk '
		/^agora_ed25519_operations_total\{op="sign"\}/ { s += $2 }
		/^agora_ed25519_operations_total\{op="verify"\}/ { v += $2 }
		/^agora_ed25519_operations_total\{op="verify_remembered"\}/ { m += $2 }
		END { print s + 0, v + 0, m + 0 }'
}
# What one Ed25519 signature and one verification cost on this machine,
# from openssl speed (once, before the rounds): the least CPU time a
# negotiation's signatures can take.
ossl=$(openssl speed -seconds 2 ed25519 2>/dev/null | grep 'EdDSA (Ed25519)' || true)
set -- $ossl
[ $# -ge 2 ] && shift $(($# - 2)) && ossl_sign=$1 ossl_verify=$2 || ossl_sign=0 ossl_verify=0
# pgbench_32 SCRIPT OUT [CPU]: the anchor SCRIPT with $CONC clients, its
# output appended to OUT; with CPU, the run's CPU line appended there.
pgbench_32() {
	c0=$(ticks)
	pgbench -n -c "$CONC" -j 2 -T "$TP_SECONDS" -f "$work/$1" "$(pg anchor)" 2>/dev/null | tee -a "$work/$2" | grep -E '^(tps|latency)'
	[ -z "${3:-}" ] || echo "$c0 $(ticks) $(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$work/$2" | tail -1)" >>"$work/$3"
}
anchor32() {
	pgbench_32 anchor.sql pgb32 cpu_anchor
	pgbench_32 anchor_notify.sql pgbn32
	pgbench_32 anchor_batched.sql pgbb32 cpu_anchorb
}
# Three rounds, each: agora's latency run, the anchor's 1-client run,
# agora's throughput run, the anchor's 32-client runs — interleaved, so that
# both see the same load of a shared machine; each round's ratio is
# reported, and the median of the ratios.
anchor1
for run in $(seq 1 "$ROUNDS"); do
	echo "== round $run"
	[ $run -eq 1 ] || { "$drv" latency $common $notify --count "$LAT_N" | tee -a "$work/lat"; anchor1; }
	# Half-way through, how many DSP messages wait in each outbox.
	(sleep $((TP_SECONDS / 2)); for d in mobility broker city; do
		psql -qtA "$(pg "$d")" -c "SELECT 'run $run $d: ' || count(*) || ' queued, ' || count(*) FILTER (WHERE attempts > 0) || ' retried' FROM outbox"
	done >>"$work/backlog") &
	c0=$(ticks); e0=$(edops)
	"$drv" throughput $common $notify --concurrency "$CONC" --seconds "$TP_SECONDS" | tee -a "$work/tp"
	fin=$(tail -1 "$work/tp" | field finalized)
	echo "$c0 $(ticks) $fin" >>"$work/cpu_tp"
	echo "$e0 $(edops) $fin" >>"$work/ed_tp"
	wait $!
	anchor32
done
echo "== latency, polling GET every 2 ms instead of LISTEN (1 run of $LAT_N)"
"$drv" latency $common --poll-ms 2 --count "$LAT_N" | tee "$work/latpoll"
poll_med=$(field median_ms <"$work/latpoll")
poll_p95=$(field p95_ms <"$work/latpoll")
cat "$work/backlog"
# Time the DSP and API endpoints took on each server over the whole run
# (their /metrics histograms): where a negotiation spends its time.
for s in mobility:$murl broker:$burl city:$curl_; do
	curl -sf "${s#*:}/metrics" | sed "s/^/${s%%:*} /"
done | python3 -c '
import re, sys
acc = {}
for line in sys.stdin:
    m = re.match(r"(\S+) agora_http_request_duration_seconds_(sum|count)\{method=\"(\w+)\",route=\"([^\"]+)\"\} (\S+)", line)
    if m:
        acc.setdefault((m[1], m[3], m[4]), {})[m[2]] = float(m[5])
for (srv, meth, route), v in sorted(acc.items()):
    if v.get("count") and ("dsp" in route or "negotiations" in route or "catalog" in route):
        print("| %s | %s %s | %d | %.1f |" % (srv, meth, route, v["count"], 1000 * v["sum"] / v["count"]))
' >"$work/routes"
cat "$work/routes"
lat_med=$(field median_ms <"$work/lat" | median)
lat_p95=$(field p95_ms <"$work/lat" | median)
lat_runs=$(field median_ms <"$work/lat" | tr '\n' ' ')
tp_rate=$(field rate <"$work/tp" | median)
tp_med=$(field median_ms <"$work/tp" | median)
tp_p95=$(field p95_ms <"$work/tp" | median)
tp_runs=$(field rate <"$work/tp" | tr '\n' ' ')
tp_failed=$(field failed <"$work/tp" | awk '{s+=$1} END {print s+0}')
pgtps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1" | median; }
pglat() { sed -n 's/^latency average = \([0-9.]*\).*/\1/p' "$1" | median; }
a_lat=$(printf '%.1f' "$(pglat "$work/pgb1")")
a_tps=$(printf '%.1f' "$(pgtps "$work/pgb32")")
an_tps=$(printf '%.1f' "$(pgtps "$work/pgbn32")")
a_lat_runs=$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' "$work/pgb1" | tr '\n' ' ')
a_tps_runs=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgb32" | sed 's/\.\([0-9]\).*/.\1/' | tr '\n' ' ')
# Per-round ratios: agora's run k against the anchor's run k.
ratios() {	# ratios AGORA_FILE AGORA_FIELD ANCHOR_VALUES SKIP
	field "$2" <"$1" >"$work/ra"
	printf '%s\n' $3 | tail -n +$(($4 + 1)) >"$work/rb"
	paste "$work/ra" "$work/rb" | awk '$2 > 0 {printf "%.2f\n", $1 / $2}'
}
r_lat_runs=$(ratios "$work/lat" median_ms "$(sed -n 's/^latency average = \([0-9.]*\).*/\1/p' "$work/pgb1")" 0 | tr '\n' ' ')
r_lat=$(printf '%s\n' $r_lat_runs | median)
r_tp_runs=$(ratios "$work/tp" rate "$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/pgb32")" 0 | tr '\n' ' ')
r_tp=$(printf '%s\n' $r_tp_runs | median)
r_tpn=$(printf '%.2f' "$(echo "$tp_rate / $an_tps" | bc -l)")
# CPU per negotiation (medians of the runs), from cpu_tp and cpu_anchor.
python3 - "$work" "$(nproc)" "$ossl_sign" "$ossl_verify" <<'EOF'
import statistics, sys
work, ncpu = sys.argv[1], int(sys.argv[2])
o_sign, o_verify = float(sys.argv[3]), float(sys.argv[4])
def runs(name):
    out = []
    for line in open("%s/%s" % (work, name)):
        v = [int(x) for x in line.split()]
        if len(v) % 2 == 0 or v[-1] <= 0:
            continue
        k = (len(v) - 1) // 2
        d = [b - a for a, b in zip(v[:k], v[k:2 * k])]
        n = v[-1]
        # per negotiation: machine busy ms, busy fraction, postgres ms,
        # each server's ms, postgres and the servers together
        out.append([d[0] / n, d[0] / d[1], d[2] / n] + [x / n for x in d[3:]] + [sum(d[2:]) / n])
    return out
def med(rows, i):
    return statistics.median(r[i] for r in rows) if rows else float("nan")
tp, an, anb = runs("cpu_tp"), runs("cpu_anchor"), runs("cpu_anchorb")
with open(work + "/cpu", "w") as f:
    f.write("| the whole machine (every process; how busy) | %.1f ms (%.0f %%) | %.1f ms (%.0f %%) |\n"
            % (med(tp, 0), 100 * med(tp, 1), med(an, 0), 100 * med(an, 1)))
    f.write("| PostgreSQL (postmaster and all backends) | %.1f ms | %.1f ms |\n" % (med(tp, 2), med(an, 2)))
    for i, name in enumerate(("broker", "provider connector (city)", "consumer connector (mobility)")):
        f.write("| %s | %.1f ms | — |\n" % (name, med(tp, 3 + i)))
    f.write("| PostgreSQL and the three servers | %.1f ms | %.1f ms |\n" % (med(tp, 6), med(an, 2)))
# Ed25519 operations per finalized negotiation (medians of the runs), and
# the CPU they take at openssl speed's rates.
ed = []
for line in open(work + "/ed_tp"):
    v = [int(x) for x in line.split()]
    if len(v) == 7 and v[6] > 0:
        ed.append([(v[3 + i] - v[i]) / v[6] for i in range(3)])
signs, verifies, remembered = (statistics.median(r[i] for r in ed) if ed else float("nan")
                               for i in range(3))
sig_ms = (signs / o_sign + verifies / o_verify) * 1000 if o_sign > 0 and o_verify > 0 else float("nan")
floor = med(an, 0) + sig_ms
floor_b = med(anb, 0) + sig_ms
with open(work + "/cpu_shape", "w") as f:
    f.write("%.1f %.1f %.1f %.0f%% %.1f %.1f %.1f %.2f %.1f %.0f %.1f %.0f%% %.1f %.0f\n"
            % (med(tp, 0), med(an, 0), 1000.0 * ncpu / 300, 100 * med(an, 1),
               signs, verifies, remembered, sig_ms, floor, 1000.0 * ncpu / floor,
               med(anb, 0), 100 * med(anb, 1), floor_b, 1000.0 * ncpu / floor_b))
EOF
read -r cpu_agora cpu_anchor cpu_budget cpu_anchor_busy ed_sign ed_verify ed_rem ed_ms cpu_floor rate_ceiling \
	cpu_anchorb cpu_anchorb_busy cpu_floorb rate_ceilingb <"$work/cpu_shape"
ab_tps=$(printf '%.1f' "$(pgtps "$work/pgbb32")")
left=$(printf '%.1f' "$(echo "$cpu_budget - $cpu_floorb" | bc -l)")
case $left in
-*|0.0) left_b="That is already more than the ${cpu_budget} ms that 300/s allows, before the ten HTTP
exchanges between three processes, the reads, JSON, canonicalisation and the servers' own code." ;;
*) left_b="At 300/s that leaves ${left} ms per negotiation for everything else: ten HTTP exchanges
between three processes, the reads, JSON, canonicalisation and the servers' own code." ;;
esac

cat >"$out" <<EOF
# Contract negotiation benchmark

Run by \`make bench-negotiation\` (bench/negotiation_bench.sh) on $(date -u +%Y-%m-%dT%H:%MZ),
$(nproc) CPUs, PostgreSQL $(psql -qtA "$(pg broker)" -c 'SHOW server_version'). One PostgreSQL
holds the broker's and both connectors' databases, with **fsync, synchronous_commit and
full_page_writes switched back on** (the test cluster turns them off; the script runs
\`ALTER SYSTEM SET … = on\` and reloads); the servers, the driver and pgbench connect to it
$([ "$pghost" = 127.0.0.1 ] && echo "over TCP on 127.0.0.1" || echo "over its Unix socket (as with agora's default \`--db\`, a local database)"). Broker and connectors with their default 4 HTTP
threads and 8 outbox workers each. The machine is shared (other builds and test suites
run on it at the same time): agora's and the anchor's runs are interleaved, round by
round, and the ratios are per round. A negotiation is consumer connector → broker → provider
connector (auto-accept) → broker → consumer: 8 DSP messages through three outboxes, three
Ed25519 signatures, one ledger entry and a receipt with a signed tree head.

| measurement | result (median of $ROUNDS runs) | goal |
|---|---|---|
| load average of the machine at the start / the end | ${load0} / $(cut -d' ' -f1-3 /proc/loadavg) | — |
| single negotiation, POST → FINALIZED seen through the API: median | ${lat_med} ms (runs: ${lat_runs}) | ≤ 20 ms |
| single negotiation: p95 | ${lat_p95} ms | — |
| the same with the client polling GET every 2 ms (1 run) | median ${poll_med} ms, p95 ${poll_p95} ms | — |
| ${CONC} negotiations in flight, ${TP_SECONDS} s: finalized/s | ${tp_rate} /s (runs in order: ${tp_runs}; failed: ${tp_failed}) | ≥ 300 /s |
| ${CONC} in flight: latency median / p95 | ${tp_med} ms / ${tp_p95} ms | — |
| anchor, pgbench 1 client: one negotiation's writes | ${a_lat} ms (runs: ${a_lat_runs}) | — |
| anchor, pgbench ${CONC} clients | ${a_tps} negotiation-equivalents/s (runs: ${a_tps_runs}) | — |
| anchor with pg_notify in ${NOTIFY_TX} of its transactions (as the bench's trigger adds), ${CONC} clients | ${an_tps} /s | — |
| ratio latency agora / anchor, per round | ${r_lat} (rounds: ${r_lat_runs}) | — |
| ratio throughput agora / anchor, per round (and against the NOTIFY variant's median) | ${r_tp} (rounds: ${r_tp_runs}); ${r_tpn} | — |

## CPU per negotiation

CPU time used during the throughput runs, divided by the negotiations finished in
them (agora: finalized; the anchor: pgbench scripts run), from \`/proc\`
(bench/cpu_ticks.py); medians of the ${ROUNDS} runs of each. The machine's row counts
every process on it, the driver and pgbench included — and, on a shared machine,
whatever else ran at the time.

| CPU per negotiation | agora, ${CONC} in flight | anchor, pgbench ${CONC} clients |
|---|---|---|
$(cat "$work/cpu")

At 300 negotiations per second, $(nproc) cores give each negotiation at most
${cpu_budget} ms of CPU time, all processes together. The anchor alone — only the
durable writes, with no reads, JSON, signatures or HTTP — used ${cpu_anchor} ms per
negotiation, with the machine ${cpu_anchor_busy} busy; agora used ${cpu_agora} ms.

Signatures: the three servers made ${ed_sign} Ed25519 signatures and ${ed_verify}
verifications by the curve arithmetic per finalized negotiation (and answered
${ed_rem} more from the signatures they had verified or made before), from their
\`agora_ed25519_operations_total\` counters. At \`openssl speed ed25519\`'s rates on this
machine (${ossl_sign} signatures/s, ${ossl_verify} verifications/s, one core) those take
${ed_ms} ms. The anchor's writes and these signatures alone come to ${cpu_floor} ms per
negotiation: at most ${rate_ceiling} negotiations/s on $(nproc) cores, before any read, JSON,
HTTP or server code.

The anchor sends one statement per row. The same rows with each transaction's writes
batched — one multi-row INSERT, one UPDATE, one DELETE per transaction, the least a
client could send for them — took ${cpu_anchorb} ms per negotiation (machine
${cpu_anchorb_busy} busy, ${ab_tps}/s); with the signatures, ${cpu_floorb} ms: at most
${rate_ceilingb}/s. ${left_b}

## Where the time goes

Time each server spent answering, from its \`/metrics\` histograms, over the whole
benchmark (warm-up, latency and throughput runs together). A DSP message is POSTed by
the sender's outbox worker, which holds its claim transaction open until the answer
arrives, so a receiver's time is also the time one of the sender's outbox workers is
busy:

| server | route | requests | mean ms |
|---|---|---|---|
$(cat "$work/routes")

Outbox backlog half-way through each throughput run:
$(sed 's/^/- /' "$work/backlog")

## The anchor

What one negotiation wrote, measured during latency run 1 (${LAT_N} negotiations) from
\`pg_stat_database\` of each database and \`pg_stat_wal\` of the cluster, per negotiation:

| database | rows inserted | rows updated | rows deleted | commits (incl. read-only) |
|---|---|---|---|---|
$(cat "$work/profile")

WAL flushes (fsyncs) per negotiation: ${wal_per}; WAL per negotiation: ${wal_bytes} bytes.
The anchor is a pgbench script of ${a_tx} transactions (one per WAL flush, i.e. per
durable commit) that together insert ${a_ins} rows (1.5 kB text bodies, like the JSON
messages, agreements and outbox rows), update ${a_upd} rows of a 100,000-row table and
delete ${a_del} rows inserted earlier (as the outbox does), on the same PostgreSQL with
the same settings. Its 1-client latency is the time the database alone needs to make one
negotiation's writes durable one after the other (a negotiation is a chain: each DSP
message is committed by the receiver before the sender commits its delivery), its
${CONC}-client rate the most negotiations per second the database allows with group
commit. The second variant adds \`pg_notify\` to ${NOTIFY_TX} of those transactions, as many as
commit with a NOTIFY in one negotiation (agora's own commits no longer notify — the
outbox and the ledger wake their threads after the commit, docs/OUTBOX.md — only the
bench's trigger does): PostgreSQL serialises the commits of notifying transactions on
one cluster-wide lock held across the commit's WAL flush, so these commits cannot share
a flush (no group commit). The
anchor leaves out reads, JSON, signatures and HTTP: everything above it is agora's own
cost.

How the client waits: the consumer connector has no long-poll or callback for
management clients, so the driver (bench/negotiation_bench.c) LISTENs on the consumer's
database for a notification of a trigger the script adds there (\`AFTER UPDATE OF state
… WHEN FINALIZED or TERMINATED\`), then confirms with one \`GET /api/v1/negotiations/{id}\`;
latency ends when that GET answers FINALIZED. The trigger adds one notifying commit per
negotiation to what agora does by itself. The polling row shows what a client sees that
just polls.
EOF
echo "== written $out"
cat "$out"

json_param lat_n "$LAT_N"; json_param tp_seconds "$TP_SECONDS"; json_param concurrency "$CONC"
json_param rounds "$ROUNDS"; json_param anchor1_seconds "$ANCHOR1_SECONDS"
json_param anchor_transactions "$a_tx"; json_param wal_flushes_per_negotiation "$wal_per"
json_fig id=single_median "label=single negotiation, POST → FINALIZED: median" \
	value="$lat_med" unit=ms better=lower anchor="$a_lat" ratio="$r_lat" \
	"anchor_label=pgbench 1 client, one negotiation's writes (ratio: median of the per-round ratios)" \
	"goal=<= 20"
json_fig id=single_p95 "label=single negotiation: p95" value="$lat_p95" unit=ms better=lower
json_fig id=single_poll_median "label=single negotiation, client polling every 2 ms: median" \
	value="$poll_med" unit=ms better=lower
json_fig id=throughput "label=$CONC negotiations in flight: finalized/s" value="$tp_rate" unit=/s \
	anchor="$a_tps" ratio="$r_tp" \
	"anchor_label=pgbench $CONC clients, negotiation-equivalents/s (ratio: median of the per-round ratios)" \
	"goal=>= 300" note="failed: $tp_failed"
json_fig id=throughput_vs_notify "label=$CONC in flight against the anchor with pg_notify" \
	value="$tp_rate" unit=/s anchor="$an_tps" "anchor_label=pgbench $CONC clients with pg_notify"
json_fig id=cpu_per_negotiation "label=$CONC in flight: CPU per finalized negotiation, whole machine" \
	value="$cpu_agora" unit=ms better=lower anchor="$cpu_anchor" \
	"anchor_label=pgbench $CONC clients: CPU per negotiation-equivalent, whole machine" \
	"note=$(nproc) cores at 300/s allow $cpu_budget ms"
json_fig id=ed25519_per_negotiation "label=Ed25519 signatures + verifications per finalized negotiation" \
	value="$(echo "$ed_sign + $ed_verify" | bc -l)" unit=ops better=lower \
	"note=$ed_sign signatures, $ed_verify verifications ($ed_rem remembered); $ed_ms ms at openssl speed"
json_fig id=cpu_floor "label=CPU per negotiation: the anchor's writes plus the signatures at openssl speed" \
	value="$cpu_floor" unit=ms better=lower "note=at most $rate_ceiling/s on $(nproc) cores"
json_fig id=cpu_floor_batched "label=CPU per negotiation: the anchor's writes batched per transaction plus the signatures" \
	value="$cpu_floorb" unit=ms better=lower "note=at most $rate_ceilingb/s on $(nproc) cores; the batched anchor alone $cpu_anchorb ms, $ab_tps/s"
json_fig id=throughput_latency_median "label=$CONC in flight: latency median" value="$tp_med" \
	unit=ms better=lower
json_fig id=throughput_latency_p95 "label=$CONC in flight: latency p95" value="$tp_p95" \
	unit=ms better=lower
json_end
