#!/usr/bin/env python3
"""collect.py RESULTS REPORT STARTED LOAD_START BENCH[:STATUS] ...

The last step of `make bench` (bench/run_all.sh): gathers RESULTS/<bench>.json
of each named bench into RESULTS/latest.json — every figure with its anchor
and ratio, the date, the git commit and the machine — and writes REPORT, a
readable table per area linking to the per-bench .md files.  STATUS is the
exit status of the bench's make target; a bench that failed, or whose JSON
is older than STARTED (epoch seconds), is listed as not run.
"""
import datetime
import json
import os
import platform
import re
import subprocess
import sys

TITLES = {
    "catalog": ("Catalog (issue 4)", "pgbench with the identical SQL"),
    "ingest": ("Observation ingest (issue 4)", "psql \\copy of the same rows"),
    "negotiation": ("Contract negotiation (issue 5)", "pgbench with the same writes"),
    "transfer": ("Transfer data plane (issue 6)", "nginx serving the same files"),
    "policy": ("Policy evaluation", "none (goals only)"),
    "sig": ("Signatures (JWS EdDSA)", "openssl speed ed25519"),
    "startup": ("Start-up time and idle memory", "nginx; /bin/true"),
}


def sh(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def machine(load_start):
    cpu = None
    for line in (read("/proc/cpuinfo") or "").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = re.search(r"MemTotal:\s+(\d+) kB", read("/proc/meminfo") or "")
    pg = None
    for d in sorted(os.listdir("/usr/lib/postgresql")) if os.path.isdir("/usr/lib/postgresql") else []:
        pg = sh("/usr/lib/postgresql/%s/bin/postgres" % d, "--version") or pg
    os_release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', read("/etc/os-release") or "", re.M))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(int(mem.group(1)) / 1048576, 1) if mem else None,
        "kernel": platform.release(),
        "os": os_release.get("PRETTY_NAME"),
        "debian_version": (read("/etc/debian_version") or "").strip() or None,
        "postgresql": pg,
        "openssl": sh("openssl", "version"),
        "load_average": {"start": load_start, "end": " ".join((read("/proc/loadavg") or "").split()[:3])},
    }


def fmt(x):
    if x is None:
        return "—"
    if isinstance(x, float):
        if abs(x) >= 100:
            return "{:,.0f}".format(x)
        if abs(x) >= 10:
            return "{:.1f}".format(x)
        return "{:.2f}".format(x)
    if isinstance(x, int):
        return "{:,}".format(x)
    return str(x)


def with_unit(x, unit):
    return fmt(x) + (" " + unit if unit and x is not None else "")


def main():
    results, report, started, load_start = sys.argv[1:5]
    started = int(started)
    benches = []
    for arg in sys.argv[5:]:
        name, _, status = arg.partition(":")
        benches.append((name, int(status or 0)))
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started": datetime.datetime.fromtimestamp(started, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "minutes": round((datetime.datetime.now().timestamp() - started) / 60, 1),
        "commit": sh("git", "rev-parse", "HEAD"),
        # Files changed since the commit, besides this run's own results.
        "uncommitted": [f for f in (sh("git", "diff", "--name-only", "HEAD") or "").splitlines()
                        if not f.startswith(os.path.normpath(results) + "/")
                        and os.path.abspath(f) != os.path.abspath(report)],
        "machine": machine(load_start),
        "quick": False,
        "benches": {},
        "not_run": [],
    }
    for name, status in benches:
        path = os.path.join(results, name + ".json")
        try:
            with open(path) as f:
                b = json.load(f)
        except (OSError, ValueError):
            b = None
        fresh = b is not None and datetime.datetime.strptime(
            b["date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp() >= started - 1
        if status != 0 or not fresh:
            doc["not_run"].append({"bench": name, "status": status})
            continue
        b["md"] = name + ".md"
        doc["benches"][name] = b
        doc["quick"] = doc["quick"] or b.get("quick", False)
    with open(os.path.join(results, "latest.json"), "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")

    m = doc["machine"]
    rel = os.path.relpath(results, os.path.dirname(os.path.abspath(report)) or ".")
    out = []
    out.append("# Benchmark report")
    out.append("")
    if doc["quick"]:
        out.append("**A quick run (`BENCH_QUICK=1`: fewer rows, fewer and shorter runs): the figures "
                   "show that everything runs, they are not the measurements of the issues; goals are "
                   "not judged.**")
        out.append("")
    out.append("Written by `make bench` (bench/run_all.sh, bench/collect.py) on %s, commit `%s`%s; "
               "the run took %s minutes. Every figure is next to its anchor measured in the same run "
               "on the same machine; the ratio is figure / anchor (for times lower is better, for rates "
               "higher). Machine-readable: [%s/latest.json](%s/latest.json)."
               % (doc["date"], (doc["commit"] or "?")[:12],
                  " (with uncommitted changes to %s)" % ", ".join(doc["uncommitted"]) if doc["uncommitted"] else "",
                  doc["minutes"], rel, rel))
    out.append("")
    out.append("| machine | |")
    out.append("|---|---|")
    out.append("| CPU | %s, %s cores |" % (m["cpu"], m["cores"]))
    out.append("| RAM | %s GiB |" % m["ram_gib"])
    out.append("| kernel | Linux %s |" % m["kernel"])
    out.append("| OS | %s (Debian %s) |" % (m["os"], m["debian_version"]))
    out.append("| PostgreSQL | %s |" % m["postgresql"])
    out.append("| OpenSSL | %s |" % m["openssl"])
    out.append("| load average (1, 5, 15 min) | %s at the start, %s at the end |"
               % (m["load_average"]["start"], m["load_average"]["end"]))
    out.append("")
    out.append("The machine is shared with other engineers' builds and tests; the load average above "
               "and in each bench's own page says how busy it was.")
    for name, _ in benches:
        title, anchor = TITLES.get(name, (name, ""))
        b = doc["benches"].get(name)
        out.append("")
        out.append("## " + title)
        out.append("")
        if b is None:
            out.append("Not run, or it failed in this run (see the output of `make bench`).")
            continue
        out.append("Details: [%s/%s.md](%s/%s.md). Anchor: %s. %s, load average %s → %s, %d s."
                   % (rel, name, rel, name, anchor, b["date"], b["load_average"]["start"],
                      b["load_average"]["end"], b["seconds"]))
        out.append("")
        out.append("| figure | value | anchor | ratio | goal |")
        out.append("|---|---|---|---|---|")
        for fg in b["figures"]:
            a = fg.get("anchor")
            anchor_txt = "%s (%s)" % (with_unit(a["value"], a["unit"]), a["label"]) if a else "—"
            g = fg.get("goal")
            if not g:
                goal_txt = "—"
            else:
                goal_txt = g["text"].replace("<=", "≤").replace(">=", "≥")
                goal_txt += " (ratio)" if g["on"] == "ratio" else (" " + fg["unit"] if fg["unit"] else "")
                if b.get("quick"):
                    goal_txt += " — quick run"
                elif g["met"] is True:
                    goal_txt += " — met"
                elif g["met"] is False:
                    goal_txt += " — **missed**"
            label = fg["label"] + (" (%s)" % fg["note"] if fg.get("note") else "")
            out.append("| %s | %s | %s | %s | %s |" % (label, with_unit(fg["value"], fg["unit"]), anchor_txt,
                                                       fmt(fg.get("ratio")), goal_txt))
    if doc["not_run"]:
        out.append("")
        out.append("Not run or failed: " + ", ".join("%s (status %d)" % (n["bench"], n["status"])
                                                     for n in doc["not_run"]) + ".")
    with open(report, "w") as f:
        f.write("\n".join(out) + "\n")
    print("collect: wrote %s and %s" % (os.path.join(results, "latest.json"), report))
    return 1 if doc["not_run"] else 0


if __name__ == "__main__":
    sys.exit(main())
