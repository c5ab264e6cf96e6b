#!/bin/sh
# startup_bench.sh BUILD — start-up time and idle memory of each binary
# (make bench-startup), measured by bench/startup_bench.py on a private
# PostgreSQL (scripts/pg-test-cluster):
#   - agora-broker and agora-connector: exec until GET /healthz answers,
#     median of RUNS (7) starts against an already migrated database (the
#     first, migrating start is shown apart); their VmRSS 2 s later, idle;
#     anchor: nginx (Debian's nginx-light, private nginx.conf, as the
#     transfer bench runs it) started and measured the same way, interleaved;
#   - --version and --help of every binary: wall time and peak RSS, median of
#     EXEC_RUNS (30); anchor: /bin/true.
# BENCH_QUICK=1: RUNS 3, EXEC_RUNS 10.  Results: bench/results/startup.md and
# startup.json (bench/common.sh).
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. bench/common.sh
if [ "$BENCH_QUICK" = 1 ]; then RUNS=${RUNS:-3} EXEC_RUNS=${EXEC_RUNS:-10}
else RUNS=${RUNS:-7} EXEC_RUNS=${EXEC_RUNS:-30}; fi
NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || { echo "startup_bench: no $NGINX (scripts/deps bench installs nginx-light)" >&2; exit 1; }
json_begin startup
out=$BENCH_RESULTS/startup.md
work=$(mktemp -d /tmp/agora-startbench.XXXXXX)
chmod 0755 "$work"	# the cluster may run as another user (root → postgres)
mkdir -m 0777 "$work/pg"
cleanup() {
	scripts/pg-test-cluster stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
conn=$(scripts/pg-test-cluster start "$work/pg")
port=$(cat "$work/pg/port")
for d in broker city; do psql -q "$conn" -c "CREATE DATABASE $d" >/dev/null; done
echo "== start-up of agora-broker, agora-connector and nginx ($RUNS runs each), --version/--help ($EXEC_RUNS runs each)"
python3 bench/startup_bench.py "$build" "host=127.0.0.1 port=$port user=agora dbname=" "$work" "$NGINX" \
	"$RUNS" "$EXEC_RUNS" >"$work/res.json" || { tail -n 20 "$work/servers.log" >&2; exit 1; }
# Shell variables from the driver's JSON.
eval "$(python3 - "$work/res.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def v(name, x, fmt="%.1f"):
    print("%s='%s'" % (name, fmt % x))
for s in ("broker", "connector", "nginx"):
    v(s + "_ms", r[s]["start_ms"])
    v(s + "_rss", r[s]["idle_rss_kib"], "%d")
    v(s + "_runs", " ".join("%.1f" % x for x in r[s]["runs_ms"]), "%s")
for s in ("broker", "connector"):
    v(s + "_first", r[s]["first_start_ms"])
v("true_ms", r["true"]["ms"], "%.2f")
v("true_rss", r["true"]["maxrss_kib"], "%d")
rows = []
for b, opts in r["exec"].items():
    for o, x in opts.items():
        rows.append("%s %s %.2f %d" % (b, o, x["ms"], x["maxrss_kib"]))
v("exec_rows", "\n".join(rows), "%s")
PY
)"
pgv=$(psql -qtA "$conn" -c 'SHOW server_version')
ngx_version=$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
{
	cat <<EOT
# Start-up time and idle memory

Run by \`make bench-startup\` (bench/startup_bench.sh, bench/startup_bench.py) on
$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, PostgreSQL $pgv, nginx $ngx_version, load average
$json_load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end.

Start-up is the time from exec until \`GET /healthz\` answers 200 (polled every 2 ms over
loopback), against a database on the same machine whose schema is already migrated; median
of $RUNS starts, each server's runs interleaved with nginx's (a private nginx.conf serving a
static file, \`worker_processes auto\`). Idle RSS is VmRSS 2 s after the first answer (nginx:
master and workers together). The servers use their defaults (4 HTTP threads, 8 outbox
workers; the connector also registers its catalog with a running broker).

| binary | start-up, median | runs (ms) | first start (empty database, migrations) | idle RSS | nginx start-up / idle RSS | ratio start-up / RSS |
|---|---|---|---|---|---|---|
| agora-broker | ${broker_ms} ms | ${broker_runs} | ${broker_first} ms | ${broker_rss} KiB | ${nginx_ms} ms / ${nginx_rss} KiB | $(ratio "$broker_ms" "$nginx_ms") / $(ratio "$broker_rss" "$nginx_rss") |
| agora-connector | ${connector_ms} ms | ${connector_runs} | ${connector_first} ms | ${connector_rss} KiB | ${nginx_ms} ms / ${nginx_rss} KiB | $(ratio "$connector_ms" "$nginx_ms") / $(ratio "$connector_rss" "$nginx_rss") |

nginx start-up runs (ms): ${nginx_runs}.

\`--version\` and \`--help\`: wall time from spawn to exit, and peak RSS (GNU time's %M), median of
$EXEC_RUNS runs each, interleaved with the anchor \`/bin/true\` (${true_ms} ms, ${true_rss} KiB):

| binary | option | time | peak RSS | time / /bin/true |
|---|---|---|---|---|
EOT
	printf '%s\n' "$exec_rows" | while read -r b o ms kib; do
		echo "| $b | \`$o\` | $ms ms | $kib KiB | $(ratio "$ms" "$true_ms") |"
	done
} >"$out"
cat "$out"
json_param runs "$RUNS"; json_param exec_runs "$EXEC_RUNS"; json_param nginx "$ngx_version"
for s in broker connector; do
	eval ms=\$${s}_ms rss=\$${s}_rss first=\$${s}_first
	json_fig id=${s}_startup "label=agora-$s: exec → /healthz 200 (migrated database)" value="$ms" \
		unit=ms better=lower anchor="$nginx_ms" "anchor_label=nginx: exec → first 200" \
		"note=first start on an empty database: $first ms"
	json_fig id=${s}_idle_rss "label=agora-$s: idle RSS after start-up" value="$rss" unit=KiB \
		better=lower anchor="$nginx_rss" "anchor_label=nginx master + workers, idle"
done
printf '%s\n' "$exec_rows" | {
	while read -r b o ms kib; do
		json_fig id="${b}_${o#--}_ms" "label=$b $o: exec time" value="$ms" unit=ms better=lower \
			anchor="$true_ms" "anchor_label=/bin/true" "note=peak RSS $kib KiB"
	done
	json_end
}
