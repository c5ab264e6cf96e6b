#!/bin/sh
# transfer_bench.sh BUILD — the transfer data-plane benchmark of issue 6
# (make bench-transfer).
#
# One private PostgreSQL (scripts/pg-test-cluster), a broker and two
# connectors: the city (provider, --max-upload 2 GiB) and mobility
# (consumer).  The city publishes two file datasets under an open,
# auto-accepted policy and uploads their content: 1 GiB of random bytes and
# 1 KiB of random bytes.  Mobility negotiates both and starts a pull of each
# with autoPull false, then asks GET /api/v1/transfers/{id}/edr for the
# provider's data URL and a broker-signed access token.
#
# The anchor is nginx (Debian's nginx-light) started in the same run from a
# private nginx.conf (sendfile on, loopback, as the current user, pid and
# logs in the temp dir) whose root is the provider's own object store: both
# serve the very same files from the same page cache.
#   1. 1 GiB: curl -o /dev/null, RUNS (7) pulls from each, interleaved (the
#      order alternates); throughput = bytes / curl's time_total.  During
#      each agora pull the provider's VmRSS is sampled every 100 ms; the CPU
#      time (utime + stime) of the provider and of nginx (master + workers)
#      is read from /proc around each pull.
#   2. 1 KiB: wrk -t2 -c64 -d WRK_SECONDS (10) with the Authorization header,
#      WRK_RUNS (7) runs of each, interleaved.
# Medians go to bench/results/transfer.md and transfer.json
# (bench/common.sh).  BENCH_QUICK=1 makes RUNS and WRK_RUNS 2, WRK_SECONDS 3
# and BIG_MIB 256.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
if [ "$BENCH_QUICK" = 1 ]; then q_runs=2 q_wrk=3 q_mib=256
else q_runs=7 q_wrk=10 q_mib=1024; fi
RUNS=${RUNS:-$q_runs}
WRK_RUNS=${WRK_RUNS:-$q_runs}
WRK_SECONDS=${WRK_SECONDS:-$q_wrk}
WRK_CONNS=${WRK_CONNS:-64}
BIG_MIB=${BIG_MIB:-$q_mib}
NGINX=${NGINX:-/usr/sbin/nginx}
out=${OUT:-$BENCH_RESULTS/transfer.md}
json_begin transfer
[ -x "$NGINX" ] || { echo "transfer_bench: no $NGINX (scripts/deps bench installs nginx-light)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "transfer_bench: no wrk (scripts/deps bench)" >&2; exit 1; }

work=$(mktemp -d /tmp/agora-xferbench.XXXXXX)
chmod 0755 "$work"	# the cluster may run as another user (root → postgres)
mkdir -m 0777 "$work/pg"
key="bench-admin-key-0123456789"
pids=""
ngx_pid=""
cleanup() {
	trap - EXIT INT TERM
	for p in $pids $ngx_pid; do kill "$p" 2>/dev/null || true; done
	for p in $pids $ngx_pid; do wait "$p" 2>/dev/null || true; done
	scripts/pg-test-cluster stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
jget() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
# CPU seconds (utime + stime) of the given processes.
cpu_s() {
	tck=$(getconf CLK_TCK)
	for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat"; done |
		awk -v t="$tck" '{s += $1} END {printf "%.3f\n", s / t}'
}
# nginx's master and its workers.
ngx_pids() { echo "$ngx_pid" $(cat /proc/"$ngx_pid"/task/*/children 2>/dev/null); }

echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

conn=$(scripts/pg-test-cluster start "$work/pg")
port=$(cat "$work/pg/port")
pg() { echo "host=127.0.0.1 port=$port user=agora dbname=$1"; }
for d in broker city mobility; do psql -q "$conn" -c "CREATE DATABASE $d" >/dev/null; done

bport=$(free_port); cport=$(free_port); mport=$(free_port); nport=$(free_port)
burl="http://127.0.0.1:$bport"; curl_="http://127.0.0.1:$cport"; murl="http://127.0.0.1:$mport"
city=urn:agora:participant:city; mobi=urn:agora:participant:mobility
bench_start_broker
# connector ID PORT DB NAME [OPTIONS]
connector() {
	id=$1 cp=$2 db=$3 name=$4
	shift 4
	"$build/bin/agora-connector" --listen "127.0.0.1:$cp" --public-url "http://127.0.0.1:$cp" \
		--db "$(pg "$db")" --data-dir "$work/$name" --broker "$burl" --participant-id "$id" \
		--key "$work/$name.pem" --api-key "$key" --push-debounce 20 --log-level warn "$@" \
		2>"$work/$name.log" &
	last_pid=$!
	pids="$pids $last_pid"
	until curl -sf "http://127.0.0.1:$cp/healthz" >/dev/null; do sleep 0.1; done
}
register "$city" "$curl_" "$work/city.pem" FR
register "$mobi" "$murl" "$work/mobility.pem" DE
connector "$city" "$cport" city city --max-upload 2147483648
prov=$last_pid
connector "$mobi" "$mport" mobility mobility

api() { # URL METHOD PATH [BODY]
	curl -sf -X "$2" -H "Authorization: Bearer $key" -H "Content-Type: application/json" "$1$3" ${4:+-d "$4"}
}
pol=$(api "$curl_" POST /api/v1/policies '{"policy":{"@type":"Set","permission":[{"action":"use"}]}}' | jget id)
# publish TITLE FILE: a file dataset with FILE as content and an open,
# auto-accepted offer; prints "DATASET OFFER SHA256".
publish() {
	ds=$(api "$curl_" POST /api/v1/datasets "{\"title\":\"$1\",\"theme\":[\"environment\"],\"source\":{\"type\":\"file\"}}" | jget id)
	offer=$(api "$curl_" POST /api/v1/offers "{\"datasetSelector\":{\"ids\":[\"$ds\"]},\"contractPolicyId\":\"$pol\",\"autoAccept\":true}" | jget id)
	sha=$(curl -sf -T "$2" -H "Authorization: Bearer $key" -H "Content-Type: application/octet-stream" \
		"$curl_/api/v1/datasets/$ds/content" | jget sha256)
	i=0
	until curl -sf "$burl/api/v1/catalog/datasets/$ds" >/dev/null; do
		i=$((i + 1)); [ $i -lt 400 ] || { echo "the broker never listed $ds" >&2; exit 1; }
		sleep 0.05
	done
	echo "$ds $offer $sha"
}
# wait_state PATH FIELD WANT: poll the consumer's API until FIELD is WANT.
wait_state() {
	i=0
	while :; do
		doc=$(api "$murl" GET "$1")
		st=$(echo "$doc" | jget "$2")
		[ "$st" = "$3" ] && break
		case $st in TERMINATED|FAILED) echo "$1 is $st: $doc" >&2; exit 1 ;; esac
		i=$((i + 1)); [ $i -lt 600 ] || { echo "$1 never reached $3: $doc" >&2; exit 1; }
		sleep 0.05
	done
	echo "$doc"
}
# pull_transfer DATASET OFFER: negotiate, start a pull without autoPull;
# prints the consumer's transfer id.
pull_transfer() {
	neg=$(api "$murl" POST /api/v1/negotiations "{\"datasetId\":\"$1\",\"offerId\":\"$2\",\"provider\":\"$city\"}" | jget id)
	ag=$(wait_state "/api/v1/negotiations/$neg" state FINALIZED | jget agreementId)
	tr=$(api "$murl" POST /api/v1/transfers "{\"agreementId\":\"$ag\",\"format\":\"HttpData-PULL\",\"autoPull\":false}" | jget id)
	wait_state "/api/v1/transfers/$tr" state STARTED >/dev/null
	echo "$tr"
}
# edr TRANSFER: "ENDPOINT TOKEN" (a token with at least 60 s left).
edr() {
	api "$murl" GET "/api/v1/transfers/$1/edr" |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["endpoint"], d["authorization"])'
}

echo "== content: ${BIG_MIB} MiB and 1 KiB of random bytes, uploaded to the provider"
head -c $((BIG_MIB * 1048576)) /dev/urandom >"$work/big.bin"
head -c 1024 /dev/urandom >"$work/small.bin"
pub=$(publish "Big file" "$work/big.bin"); set -- $pub; big_ds=$1 big_offer=$2 big_sha=$3
pub=$(publish "Small file" "$work/small.bin"); set -- $pub; small_ds=$1 small_offer=$2 small_sha=$3
rm -f "$work/big.bin"	# the provider's object is what both servers send
big_obj="$work/city/objects/$big_sha"
big_size=$(stat -c %s "$big_obj")
[ "$big_size" = $((BIG_MIB * 1048576)) ] || { echo "object $big_obj has $big_size bytes" >&2; exit 1; }
big_tr=$(pull_transfer "$big_ds" "$big_offer")
small_tr=$(pull_transfer "$small_ds" "$small_offer")
echo "   transfers: $big_tr (big), $small_tr (small)"

# The anchor: nginx over the provider's object store.
mkdir -p "$work/nginx"
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"
cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	default_type application/octet-stream;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	server {
		listen 127.0.0.1:$nport;
		root $work/city/objects;
	}
}
EOF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>>"$work/nginx/error.log" &
ngx_pid=$!
nurl="http://127.0.0.1:$nport"
i=0
until curl -sf -o /dev/null "$nurl/$small_sha"; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$work/nginx/error.log" >&2; exit 1; }
	sleep 0.1
done
ngx_version=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')

# Both answer the same bytes.
e=$(edr "$small_tr"); set -- $e; small_url=$1 tok=$2
curl -sf -H "Authorization: Bearer $tok" "$small_url" | cmp -s - "$work/city/objects/$small_sha" ||
	{ echo "agora's 1 KiB answer differs from the file" >&2; exit 1; }
curl -sf "$nurl/$small_sha" | cmp -s - "$work/city/objects/$small_sha" ||
	{ echo "nginx's 1 KiB answer differs from the file" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "$small_url")
[ "$code" = 401 ] || { echo "agora served without a token (HTTP $code)" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x.y.z" "$small_url")
[ "$code" = 401 ] || { echo "agora served with a bad token (HTTP $code)" >&2; exit 1; }

# HOLD=1: stop here with everything running (to profile by hand).
if [ "${HOLD:-}" = 1 ]; then
	echo "HOLD: provider pid $prov; 1 KiB: $small_url (token: GET $murl/api/v1/transfers/$small_tr/edr" \
		"with the key $key); nginx: $nurl/$small_sha; big: $big_tr, $nurl/$big_sha; Ctrl-C ends"
	while :; do sleep 1; done
fi

# The RSS sampler: VmRSS of PID every 100 ms until STOPFILE exists, then
# one last sample; prints "start= max= end= samples=" in KiB.
cat >"$work/rss.py" <<'EOF'
import os, sys, time
pid, stop, ready = sys.argv[1:4]
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
s = [rss()]
open(ready, "w").close()
while not os.path.exists(stop):
    time.sleep(0.1)
    s.append(rss())
time.sleep(0.2)
s.append(rss())
print("start=%d max=%d end=%d samples=%d" % (s[0], max(s), s[-1], len(s)))
EOF
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

# pull_big WHO URL [TOKEN]: one 1 GiB pull to /dev/null; appends
# "who=.. s=.. mibps=.. cpu=.. [rss fields]" to $work/big.
pull_big() {
	who=$1 url=$2 bearer=${3:-}	# not $tok: sh has no local variables
	if [ "$who" = agora ]; then
		rm -f "$work/stop" "$work/ready"
		python3 "$work/rss.py" "$prov" "$work/stop" "$work/ready" >"$work/rss.out" &
		rss_pid=$!
		while [ ! -f "$work/ready" ]; do sleep 0.01; done
		procs=$prov
	else
		procs=$(ngx_pids)
	fi
	c0=$(cpu_s $procs)
	res=$(curl -s -o "$work/body" -w '%{http_code} %{size_download} %{time_total}' \
		${bearer:+-H "Authorization: Bearer $bearer"} "$url")
	c1=$(cpu_s $procs)
	set -- $res
	[ "$1" = 200 ] && [ "$2" = "$big_size" ] || { echo "$who: HTTP $1, $2 bytes: $(head -c 300 "$work/body")" >&2; exit 1; }
	rm -f "$work/body"
	line="who=$who s=$3 mibps=$(printf '%.0f' "$(echo "$2 / 1048576 / $3" | bc -l)") cpu=$(printf '%.3f' "$(echo "$c1 - $c0" | bc -l)")"
	if [ "$who" = agora ]; then
		touch "$work/stop"
		wait "$rss_pid"
		line="$line $(cat "$work/rss.out")"
	fi
	echo "   $line"
	echo "$line" >>"$work/big"
}

echo "== 1 GiB: $RUNS pulls from each, interleaved (page cache warmed first)"
cat "$big_obj" >/dev/null
e=$(edr "$big_tr"); set -- $e; big_url=$1
: >"$work/big"
for run in $(seq 1 "$RUNS"); do
	e=$(edr "$big_tr"); set -- $e; tok=$2
	if [ $((run % 2)) = 1 ]; then
		pull_big agora "$big_url" "$tok"; pull_big nginx "$nurl/$big_sha"
	else
		pull_big nginx "$nurl/$big_sha"; pull_big agora "$big_url" "$tok"
	fi
done
# A ranged request is served too (the last MiB).
e=$(edr "$big_tr"); set -- $e; tok=$2
code=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H "Authorization: Bearer $tok" \
	-H "Range: bytes=$((big_size - 1048576))-" "$big_url")
[ "$code" = "206 1048576" ] || { echo "Range: $code" >&2; exit 1; }

# wrk_run WHO URL TOKEN: appends "who=.. rps=.. p50=.. p99=.. errors=.." to $work/small.
ms() { # wrk latency (e.g. 812.00us, 1.20ms, 1.01s) in ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
wrk_run() {
	wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECONDS}s" --latency -H "Authorization: Bearer $3" "$2" >"$work/wrk.out" 2>&1
	rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/wrk.out")
	p50=$(ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.out")")
	p99=$(ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")")
	bad=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$work/wrk.out")
	sockerr=$(sed -n 's/.*Socket errors: \(.*\)/\1/p' "$work/wrk.out")
	line="who=$1 rps=$rps p50=$p50 p99=$p99 non2xx=${bad:-0}${sockerr:+ sockets: $sockerr}"
	echo "   $line"
	echo "$line" >>"$work/small"
	[ -n "$rps" ] || { cat "$work/wrk.out" >&2; exit 1; }
}

# "STATUS COUNT" lines of the provider's GET /data/{transfer} answers so far.
data_statuses() {
	curl -sf "$curl_/metrics" | sed -n 's/^agora_http_requests_total{method="GET",route="\/data\/{transfer}",status="\([0-9]*\)"} \([0-9]*\)$/\1 \2/p'
}
data_statuses >"$work/statuses0"
echo "== 1 KiB: wrk -t2 -c$WRK_CONNS -d${WRK_SECONDS}s, $WRK_RUNS runs of each, interleaved"
: >"$work/small"
c_agora=0; c_ngx=0
for run in $(seq 1 "$WRK_RUNS"); do
	e=$(edr "$small_tr"); set -- $e; tok=$2
	for who in $( [ $((run % 2)) = 1 ] && echo "agora nginx" || echo "nginx agora"); do
		if [ "$who" = agora ]; then
			a0=$(cpu_s $prov); wrk_run agora "$small_url" "$tok"; a1=$(cpu_s $prov)
			c_agora=$(echo "$c_agora + $a1 - $a0" | bc -l)
		else
			n0=$(cpu_s $(ngx_pids)); wrk_run nginx "$nurl/$small_sha" "$tok"; n1=$(cpu_s $(ngx_pids))
			c_ngx=$(echo "$c_ngx + $n1 - $n0" | bc -l)
		fi
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
# The statuses other than 2xx the provider answered on the data route
# during the wrk runs (its /metrics before and after), "STATUS×COUNT": what
# a non-2xx count of wrk was.
a_statuses=$(data_statuses | awk 'NR == FNR {b[$1] = $2; next} {d = $2 - b[$1]; if ($1 !~ /^2/ && d > 0) printf "%s×%d ", $1, d}' \
	"$work/statuses0" - | sed 's/ $//')
echo "   provider's non-2xx answers on GET /data/{transfer} during the wrk runs: ${a_statuses:-none}"

pick() { grep "who=$1 " "$work/$2" | field "$3"; }
runs() { pick "$1" "$2" "$3" | tr '\n' ' ' | sed 's/ $//'; }
a_mibps=$(pick agora big mibps | median); n_mibps=$(pick nginx big mibps | median)
a_s=$(pick agora big s | median); n_s=$(pick nginx big s | median)
a_cpu=$(pick agora big cpu | median); n_cpu=$(pick nginx big cpu | median)
rss_start=$(pick agora big start | median); rss_max=$(pick agora big max | median)
rss_end=$(pick agora big end | median)
rss_maxmax=$(pick agora big max | sort -n | tail -1)
rss_growth=$(pick agora big max | awk -v s="$rss_start" 'BEGIN {m = 0} {if ($1 - s > m) m = $1 - s} END {print m}')
a_rps=$(pick agora small rps | median | xargs printf '%.0f'); n_rps=$(pick nginx small rps | median | xargs printf '%.0f')
a_p50=$(pick agora small p50 | median); n_p50=$(pick nginx small p50 | median)
a_p99=$(pick agora small p99 | median); n_p99=$(pick nginx small p99 | median)
a_non2xx=$(pick agora small non2xx | awk '{s += $1} END {print s + 0}')
n_non2xx=$(pick nginx small non2xx | awk '{s += $1} END {print s + 0}')
a_us=$(printf '%.1f' "$(echo "$c_agora * 1000000 / ($a_rps * $WRK_SECONDS * $WRK_RUNS)" | bc -l)")
n_us=$(printf '%.1f' "$(echo "$c_ngx * 1000000 / ($n_rps * $WRK_SECONDS * $WRK_RUNS)" | bc -l)")
r_big=$(ratio "$a_mibps" "$n_mibps"); r_small=$(ratio "$a_rps" "$n_rps")
# The ratio within each interleaved pair (run k of agora / run k of nginx),
# median: the machine's load changes between pairs more than within one.
pair_ratio() { # FILE FIELD
	pick agora "$1" "$2" >"$work/pa"; pick nginx "$1" "$2" >"$work/pn"
	paste -d' ' "$work/pa" "$work/pn" | awk '{printf "%.2f\n", $1 / $2}' >"$work/pr"
	echo "$(median <"$work/pr") (pairs: $(tr '\n' ' ' <"$work/pr" | sed 's/ $//'))"
}
pr_big=$(pair_ratio big mibps); pr_small=$(pair_ratio small rps)
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print (r >= g) ? "met" : "**missed**" }'; }

mkdir -p "$(dirname "$out")"
cat >"$out" <<EOF
# Transfer data-plane benchmark

Run by \`make bench-transfer\` (bench/transfer_bench.sh) on $(date -u +%Y-%m-%dT%H:%MZ):
$(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB,
Linux $(uname -r), PostgreSQL $(psql -qtA "$(pg broker)" -c 'SHOW server_version'), nginx $ngx_version,
$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2). The machine is shared: load average $load_start at the start,
$load_end at the end (other engineers' builds and tests run beside it), so every figure is
the median of several runs with the anchor measured in the same run, interleaved.

What is compared: the provider connector's \`GET /data/{transfer}\` (libmicrohttpd, 4 HTTP
threads, its default) and nginx ${ngx_version} (\`worker_processes auto\`, \`sendfile on\`,
\`access_log off\`, \`keepalive_requests 1000000\`) serving **the same files** — nginx's
root is the provider's object store — over loopback. Client, broker, both connectors,
PostgreSQL and nginx share the same 2 CPUs.

| measurement | agora | nginx | ratio | goal |
|---|---|---|---|---|
| ${BIG_MIB} MiB file, curl → /dev/null: throughput (median of ${RUNS}) | ${a_mibps} MiB/s | ${n_mibps} MiB/s | ${r_big} | ≥ 0.9 — $(verdict "$r_big" 0.9) |
| the same: ratio within each interleaved pair, median | — | — | ${pr_big} | — |
| the same: wall time | $(printf '%.2f' "$a_s") s | $(printf '%.2f' "$n_s") s | — | — |
| the same: server CPU time per pull (utime + stime) | ${a_cpu} s | ${n_cpu} s | — | — |
| 1 KiB file, wrk -t2 -c${WRK_CONNS} ${WRK_SECONDS} s, a token on every request: requests/s (median of ${WRK_RUNS}) | ${a_rps} | ${n_rps} | ${r_small} | ≥ 0.5 — $(verdict "$r_small" 0.5) |
| the same: ratio within each interleaved pair, median | — | — | ${pr_small} | — |
| the same: latency p50 / p99 | ${a_p50} / ${a_p99} ms | ${n_p50} / ${n_p99} ms | — | — |
| the same: server CPU per request | ${a_us} µs | ${n_us} µs | — | — |
| the same: non-2xx answers over all runs | ${a_non2xx} | ${n_non2xx} | — | must be 0 |
| the same: the provider's non-2xx answers during those runs (status×count, from its /metrics) | ${a_statuses:-none} | — | — | — |
| provider VmRSS during a ${BIG_MIB} MiB pull, every 100 ms: start / max / end (medians) | ${rss_start} / ${rss_max} / ${rss_end} KiB | — | — | flat |
| the same: largest growth over start in any run; largest max | +${rss_growth} KiB; ${rss_maxmax} KiB | — | — | flat |

Runs, in order:

- ${BIG_MIB} MiB, MiB/s — agora: $(runs agora big mibps); nginx: $(runs nginx big mibps)
- ${BIG_MIB} MiB, provider VmRSS max KiB per pull: $(runs agora big max)
- 1 KiB, requests/s — agora: $(runs agora small rps); nginx: $(runs nginx small rps)

## What each agora request does

Every request carries \`Authorization: Bearer <access token>\` (a broker-signed EdDSA
at+jwt from \`GET /api/v1/transfers/{id}/edr\`, valid 300 s) and **every request's token is
checked**: the provider hashes it (SHA-256) and looks the hash up in a small cache of
verified tokens (256 slots); a miss verifies the Ed25519 signature against the broker's
key and the claims (typ, aud, iss, exp/nbf, transfer, agreement, sub). The usage
authorisation — \`POST /api/v1/usage/authorize\` to the broker, which re-evaluates the
agreement — is cached per transfer for the re-authorisation interval (30 s by default,
shorter when the broker says so). That is the design (docs/DESIGN.md §6). The first
request of each interval also reads the transfer's row (ours, STARTED, HttpData-PULL, the
token's agreement and consumer), the agreement and the dataset; what it found is kept
with the authorisation, so the next requests of the interval whose token names the same
agreement and consumer skip the database, until the interval ends or the transfer
changes state (suspension, termination, completion and resumption drop it at once) or the
provider revokes the agreement.
Then the file goes out zero-copy (\`MHD_create_response_from_fd\`, sendfile) with
\`Accept-Ranges\` and \`Repr-Digest\`. nginx serves a static file with no check at all.

Before that cache (connectors/dataplane.c, the commit "Data plane: a pull of a file
dataset is served without a database round trip while its authorisation holds"), every
request made three database lookups, the dataset view alone about 0.5 ms of PostgreSQL,
and the provider's 4 HTTP threads mostly waited for them: in the same setup agora
answered 1,292 requests/s against nginx's 30,867 (ratio 0.04), 263 µs of provider CPU per
request. The 1 GiB figures did not change: one request, one lookup.

The ${BIG_MIB} MiB pull is one request: the checks cost once, then the kernel copies the file
from the page cache to the socket. The provider's RSS does not move during it: nothing
of the file passes through user space.

How it was measured: the ${BIG_MIB} MiB object and the 1 KiB object are read once before the
runs (page cache warm for both servers). curl's \`time_total\` gives the wall time of each
pull; CPU time is the difference of utime + stime in /proc/PID/stat (nginx: master and
workers) around each pull or each wrk run. VmRSS comes from /proc/PID/status, sampled
every 100 ms by a small Python loop started before the pull and stopped 200 ms after.
wrk's header goes to nginx too (ignored there), so both get the same requests.
EOF
echo "== written $out"
cat "$out"

json_param runs "$RUNS"; json_param wrk_runs "$WRK_RUNS"; json_param wrk_seconds "$WRK_SECONDS"
json_param wrk_connections "$WRK_CONNS"; json_param big_mib "$BIG_MIB"; json_param nginx "$ngx_version"
json_fig id=big_throughput "label=${BIG_MIB} MiB file, curl → /dev/null: throughput" \
	value="$a_mibps" unit=MiB/s anchor="$n_mibps" "anchor_label=nginx $ngx_version, same file" \
	"goal=>= 0.9" goal_on=ratio "note=ratio within each interleaved pair, median: $pr_big"
json_fig id=big_cpu "label=${BIG_MIB} MiB pull: server CPU time" value="$a_cpu" unit=s better=lower \
	anchor="$n_cpu" "anchor_label=nginx"
json_fig id=small_rps "label=1 KiB file, wrk -c${WRK_CONNS}, token checked on every request" \
	value="$a_rps" unit=requests/s anchor="$n_rps" "anchor_label=nginx $ngx_version, same file" \
	"goal=>= 0.5" goal_on=ratio "note=ratio within each interleaved pair, median: $pr_small"
json_fig id=small_p99 "label=1 KiB: latency p99" value="$a_p99" unit=ms better=lower \
	anchor="$n_p99" "anchor_label=nginx"
json_fig id=small_cpu_per_request "label=1 KiB: server CPU per request" value="$a_us" unit=µs \
	better=lower anchor="$n_us" "anchor_label=nginx"
json_fig id=small_non2xx "label=1 KiB: non-2xx answers over all runs" value="$a_non2xx" unit="" \
	better=lower "goal=<= 0"
json_fig id=big_rss_growth "label=provider VmRSS growth during a ${BIG_MIB} MiB pull (largest)" \
	value="$rss_growth" unit=KiB better=lower "note=start $rss_start KiB, max $rss_max KiB (medians)"
json_end
