#!/usr/bin/env python3
"""benchjson.py OUT NAME QUICK LOAD_START LOAD_END SECONDS < lines

Writes one bench's machine-readable result (bench/common.sh's json_end).
Each input line is fields separated by \\x1f: "param KEY VALUE" or
"fig key=value ...". A figure's ratio is value / anchor unless given; a goal
"<= X" or ">= X" is checked against the value, or the ratio with
goal_on=ratio.
"""
import datetime
import os
import json
import subprocess
import sys


def num(v):
    """A number when the text is one, else the text (None when empty)."""
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    if f != f or f in (float("inf"), float("-inf")):
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def goal_met(goal, x):
    if not goal or not isinstance(x, (int, float)):
        return None
    g = goal.replace(" ", "")
    for op in ("<=", ">=", "<", ">"):
        if g.startswith(op):
            t = float(g[len(op):].replace(",", ""))
            return {"<=": x <= t, ">=": x >= t, "<": x < t, ">": x > t}[op]
    return None


def main():
    out, name, quick, load0, load1, secs = sys.argv[1:7]
    params, figs = {}, []
    for line in sys.stdin.read().split("\n"):
        f = line.split("\x1f")
        if f[0] == "param" and len(f) == 3:
            params[f[1]] = num(f[2])
        elif f[0] == "fig":
            d = {}
            for kv in f[1:]:
                k, _, v = kv.partition("=")
                d[k] = v
            fig = {
                "id": d["id"],
                "label": d.get("label", d["id"]),
                "value": num(d.get("value")),
                "unit": d.get("unit", ""),
                "better": d.get("better", "higher"),
            }
            anchor = num(d.get("anchor"))
            if anchor is not None:
                fig["anchor"] = {
                    "label": d.get("anchor_label", ""),
                    "value": anchor,
                    "unit": d.get("anchor_unit", fig["unit"]),
                }
            ratio = num(d.get("ratio"))
            if ratio is None and isinstance(anchor, (int, float)) and anchor \
                    and isinstance(fig["value"], (int, float)):
                ratio = round(fig["value"] / anchor, 3)
            if ratio is not None:
                fig["ratio"] = ratio
            if d.get("goal"):
                on = d.get("goal_on", "value")
                fig["goal"] = {"text": d["goal"], "on": on,
                               "met": goal_met(d["goal"], ratio if on == "ratio" else fig["value"])}
            if d.get("note"):
                fig["note"] = d["note"]
            figs.append(fig)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    doc = {
        "bench": name,
        "quick": quick == "1",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "seconds": int(secs),
        "load_average": {"start": load0, "end": load1},
        "params": params,
        "figures": figs,
    }
    with open(out + ".tmp", "w") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False)
        f.write("\n")

    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
