#!/usr/bin/env python3
"""startup_bench.py BUILD CONNINFO_PREFIX WORK NGINX RUNS EXEC_RUNS

Driven by bench/startup_bench.sh, which starts the PostgreSQL.  Measures,
interleaved with the anchors so that both see the same load:

- start-up: exec of agora-broker / agora-connector until GET /healthz
  answers 200 (polled every 2 ms), RUNS times each against a database whose
  schema is already migrated (the very first, migrating start is reported
  apart); anchor: nginx from exec to its first answer, polled the same way;
- idle RSS: VmRSS of the process 2 s after /healthz answered (broker and
  connector), and of nginx (master + workers) — the same idle wait;
- exec time of --version and --help of every binary (EXEC_RUNS each), and
  their peak RSS (ru_maxrss); anchor: /bin/true.

Prints one JSON object on stdout.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import time

build, pg, work, nginx = sys.argv[1:5]
runs, exec_runs = int(sys.argv[5]), int(sys.argv[6])
KEY = "bench-admin-key-0123456789"
CITY = "urn:agora:participant:city"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get_status(port, path):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET " + path.encode() + b" HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while len(head) < 12:
                chunk = s.recv(64)
                if not chunk:
                    break
                head += chunk
            return int(head[9:12]) if head.startswith(b"HTTP/") else 0
    except (OSError, ValueError):
        return 0


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def start_and_wait(argv, port, path, log):
    """exec argv; seconds until GET path on port answers 200; the process."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
    deadline = t0 + 60
    while get_status(port, path) != 200:
        if p.poll() is not None:
            raise SystemExit("startup_bench: %s exited with %d" % (argv[0], p.returncode))
        if time.monotonic() > deadline:
            p.kill()
            raise SystemExit("startup_bench: %s never answered" % argv[0])
        time.sleep(0.002)
    return time.monotonic() - t0, p


def stop(p):
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def broker_argv(port):
    return [build + "/bin/agora-broker", "--listen", "127.0.0.1:%d" % port,
            "--public-url", "http://127.0.0.1:%d" % port, "--db", pg + "broker",
            "--data-dir", work + "/broker", "--admin-key", KEY, "--crawl-interval", "0",
            "--log-level", "warn"]


def connector_argv(port, burl):
    return [build + "/bin/agora-connector", "--listen", "127.0.0.1:%d" % port,
            "--public-url", "http://127.0.0.1:%d" % port, "--db", pg + "city",
            "--data-dir", work + "/city", "--broker", burl, "--participant-id", CITY,
            "--key", work + "/city.pem", "--api-key", KEY, "--log-level", "warn"]


def nginx_conf(port):
    d = work + "/nginx"
    os.makedirs(d + "/html", exist_ok=True)
    with open(d + "/html/healthz", "w") as f:
        f.write("ok\n")
    user = ""
    if os.getuid() == 0:
        import grp
        import pwd
        user = "user %s %s;" % (pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)
    with open(d + "/nginx.conf", "w") as f:
        f.write("""%s
worker_processes auto;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %s/body;
	proxy_temp_path %s/proxy;
	fastcgi_temp_path %s/fastcgi;
	uwsgi_temp_path %s/uwsgi;
	scgi_temp_path %s/scgi;
	server { listen 127.0.0.1:%d; root %s/html; }
}
""" % (user, d, d, d, d, d, d, d, port, d))
    return [nginx, "-p", d, "-c", d + "/nginx.conf", "-g", "daemon off;"]


def timed_exec(argv):
    """Wall seconds and peak RSS (KiB, ru_maxrss) of one run of argv."""
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
    _, status, ru = os.wait4(pid, 0)
    dt = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("startup_bench: %s exited with %d" % (" ".join(argv), status))
    return dt, ru.ru_maxrss


def peak_rss(argv):
    """Peak RSS (KiB) of argv, from GNU time's %M.  A child's ru_maxrss keeps
    the high-water mark of the process it was before its exec: for a child
    of this Python that is Python's own size, for a child that GNU time
    forks about 1 MiB (the /bin/true row shows it)."""
    out = work + "/maxrss"
    timed_exec(["/usr/bin/time", "-f", "%M", "-o", out] + argv)
    with open(out) as f:
        return int(f.read().split()[-1])


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    log = open(work + "/servers.log", "ab")
    res = {"runs": runs, "exec_runs": exec_runs}
    bport = free_port()
    # The first start migrates an empty database.
    first_b, p = start_and_wait(broker_argv(bport), bport, "/healthz", log)
    stop(p)
    bt, ct, nt, brss, crss, nrss = [], [], [], [], [], []
    nport = free_port()
    for _ in range(runs):
        dt, p = start_and_wait(broker_argv(bport), bport, "/healthz", log)
        bt.append(dt)
        time.sleep(2)
        brss.append(rss_kib(p.pid))
        stop(p)
        dt, p = start_and_wait(nginx_conf(nport), nport, "/healthz", log)
        nt.append(dt)
        time.sleep(2)
        nrss.append(rss_kib(p.pid) + sum(rss_kib(c) for c in children(p.pid)))
        stop(p)
    # The connector registers with a running broker, which knows its key.
    dt, broker = start_and_wait(broker_argv(bport), bport, "/healthz", log)
    burl = "http://127.0.0.1:%d" % bport
    cport = free_port()
    jwk = subprocess.run([build + "/bin/agora-connector", "--print-jwk", "--key", work + "/city.pem"],
                         check=True, capture_output=True, text=True).stdout.strip()
    body = json.dumps({"id": CITY, "name": "City", "endpoint": "http://127.0.0.1:%d" % cport,
                       "jwks": {"keys": [json.loads(jwk)]}})
    subprocess.run(["curl", "-sf", "-o", "/dev/null", "-H", "Authorization: Bearer " + KEY,
                    "-H", "Content-Type: application/json", burl + "/api/v1/participants",
                    "-d", body], check=True)
    first_c, p = start_and_wait(connector_argv(cport, burl), cport, "/healthz", log)
    stop(p)
    for _ in range(runs):
        dt, p = start_and_wait(connector_argv(cport, burl), cport, "/healthz", log)
        ct.append(dt)
        time.sleep(2)
        crss.append(rss_kib(p.pid))
        stop(p)
    stop(broker)
    res["broker"] = {"start_ms": med(bt) * 1000, "first_start_ms": first_b * 1000,
                     "runs_ms": [round(x * 1000, 1) for x in bt], "idle_rss_kib": med(brss)}
    res["connector"] = {"start_ms": med(ct) * 1000, "first_start_ms": first_c * 1000,
                        "runs_ms": [round(x * 1000, 1) for x in ct], "idle_rss_kib": med(crss)}
    res["nginx"] = {"start_ms": med(nt) * 1000, "runs_ms": [round(x * 1000, 1) for x in nt],
                    "idle_rss_kib": med(nrss)}
    # --version / --help of each binary, interleaved with /bin/true.
    bins = [b for b in ("agora-broker", "agora-connector", "agora", "agora-policy", "agora-demo-data")
            if os.access(build + "/bin/" + b, os.X_OK)]
    times = {(b, o): [] for b in bins for o in ("--version", "--help")}
    rss = {(b, o): [] for b in bins for o in ("--version", "--help")}
    true_t, true_rss = [], []
    for _ in range(exec_runs):
        true_t.append(timed_exec(["/bin/true"])[0])
        true_rss.append(peak_rss(["/bin/true"]))
        for (b, o) in times:
            times[(b, o)].append(timed_exec([build + "/bin/" + b, o])[0])
            rss[(b, o)].append(peak_rss([build + "/bin/" + b, o]))
    res["exec"] = {b: {o: {"ms": med(times[(b, o)]) * 1000, "maxrss_kib": med(rss[(b, o)])}
                       for o in ("--version", "--help")} for b in bins}
    res["true"] = {"ms": med(true_t) * 1000, "maxrss_kib": med(true_rss)}
    json.dump(res, sys.stdout)
    print()


main()
