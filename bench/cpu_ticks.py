#!/usr/bin/env python3
"""cpu_ticks.py POSTMASTER_PID PID... — one line of CPU counters, in
milliseconds of CPU time (counted by the kernel in clock ticks), for the CPU
accounting of bench/negotiation_bench.sh:

    machine_busy machine_total postgres pid1 pid2 ...

machine_*: the cpu line of /proc/stat (busy = user, nice, system, irq,
softirq, steal).  postgres: the postmaster's own time, the time of the
children it has reaped (cutime, cstime: backends of closed connections)
and that of its live children, so that the difference of two lines is
what the cluster used in between, whether or not its backends outlived
the interval.  pidN: utime + stime of each given process (the servers).
A process that is gone counts 0.
"""
import os
import sys


def stat(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    # The command name may hold spaces: fields start after its ')'.
    return s[s.rindex(")") + 2:].split()


def own(fields):  # utime + stime (fields 14 and 15 of proc(5))
    return int(fields[11]) + int(fields[12])


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: cpu_ticks.py POSTMASTER_PID [PID...]")
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:9]]
    busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7]
    total = sum(cpu)
    pm = sys.argv[1]
    pg = 0
    f = stat(pm)
    if f:
        pg = own(f) + int(f[13]) + int(f[14])
        for d in os.listdir("/proc"):
            if d.isdigit() and d != pm:
                c = stat(d)
                if c and c[1] == pm:  # ppid
                    pg += own(c)
    servers = []
    for p in sys.argv[2:]:
        f = stat(p)
        servers.append(own(f) if f else 0)
    ms = 1000 / os.sysconf("SC_CLK_TCK")
    print(*(round(v * ms) for v in [busy, total, pg] + servers))


if __name__ == "__main__":
    main()
