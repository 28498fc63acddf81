#!/bin/sh
# routerlab guest metrics agent. POSIX sh and busybox applets (sh, awk, mkfifo) only, so it
# also runs on OpenWrt. Streams one sample every INTERVAL_MS to OUT (a virtio console or
# serial port):
#   H routerlab-metrics v1 clk_tck=100 interval_ms=N
#   S <uptime> <user> <nice> <system> <idle> <iowait> <irq> <softirq> <steal>   (jiffies, /proc/stat)
#   M <uptime> <MemTotal kB> <MemAvailable kB> <MemFree kB>
#   P <uptime> <name> <pid> <utime+stime jiffies> <RSS kB> <threads>
# Processes to watch are named one per line in /tmp/routerlab-watch.
# Usage: routerlab-metrics OUT [INTERVAL_MS]
#
# Every instruction it executes is taken from the proxy under test, so it is built to cost
# almost nothing (routerlab measures it in every cell: report.json insns.agent):
# - no fork per sample: the shell below only ticks (`read -t` on a pipe that never delivers
#   is the sleep) and finds PIDs by reading /proc/*/comm when the names change or a PID
#   vanishes, or every 20 ticks for new workers;
# - one awk reads the /proc files: awk reads a file in one read(2), where the shell's `read`
#   builtin makes two system calls per byte (a /proc/PID/stat line cost about 1.3 M guest
#   instructions that way on aarch64).
out=${1:-/dev/hvc0}
interval=${2:-500}
sec=$((interval / 1000)).$((interval % 1000 / 100))$((interval % 100 / 10))$((interval % 10))
# Nothing on stderr: it is the console, where routerlab runs its commands, and a process
# that exits mid-scan makes `<"/proc/PID/comm"` fail with a message that would land in the
# middle of a command's output.
exec >"$out" 2>/dev/null
tick=/tmp/.routerlab-metrics-tick
rm -f "$tick"
mkfifo "$tick" && exec 3<>"$tick"
rm -f "$tick"
echo "H routerlab-metrics v1 clk_tck=100 interval_ms=$interval"

# "name:pid name:pid ..." for the watched names.
scan() {
    pids=
    for name in $watch; do
        for d in /proc/[0-9]*; do
            comm=
            read -r comm 2>/dev/null <"$d/comm"
            [ "$comm" = "$name" ] && pids="$pids $name:${d#/proc/}"
        done
    done
}

watch= pids= n=0
while :; do
    w=
    if [ -r /tmp/routerlab-watch ]; then
        while read -r x; do w="$w $x"; done </tmp/routerlab-watch
    fi
    n=$((n + 1))
    gone=
    for e in $pids; do
        [ -e "/proc/${e#*:}" ] || gone=1
    done
    if [ "$w" != "$watch" ] || [ -n "$gone" ] || [ $((n % 20)) -eq 0 ]; then
        watch=$w
        scan
    fi
    echo "$pids"
    read -r -t "$sec" _ <&3
done | exec awk '
# RSS from statm is in pages: learn the page size once from our own VmRSS.
BEGIN {
    while ((getline l <"/proc/self/status") > 0)
        if (substr(l, 1, 6) == "VmRSS:") { split(l, r, " "); kb = r[2] }
    close("/proc/self/status")
    split(line("/proc/self/statm"), r, " ")
    page_kb = 4
    for (p = 4; p <= 64; p *= 2)
        if (r[2] * p >= kb - p && r[2] * p <= kb + p) page_kb = p
}
function line(f,   l) {
    l = ""
    getline l <f
    close(f)
    return l
}
{
    # Few splits and no regex: busybox awk makes both costly.
    u = line("/proc/uptime")
    up = substr(u, 1, index(u, " ") - 1)
    split(line("/proc/stat"), c, " ")
    printf "S %s %s %s %s %s %d %d %d %d\n", up, c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
    # MemTotal, MemFree, MemAvailable are its first lines (Linux 3.14 on); "Key:" is 16
    # characters wide, then the number.
    f = "/proc/meminfo"
    getline t <f
    getline fr <f
    getline a <f
    close(f)
    total = substr(t, 10) + 0
    free = substr(fr, 9) + 0
    avail = substr(a, 1, 13) == "MemAvailable:" ? substr(a, 14) + 0 : free
    printf "M %s %d %d %d\n", up, total, avail, free
    for (i = 1; i <= NF; i++) {
        k = index($i, ":")
        name = substr($i, 1, k - 1)
        pid = substr($i, k + 1)
        s = line("/proc/" pid "/stat")
        if (s == "") continue
        # "PID (NAME) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime priority nice threads ...": NAME is the watched comm, so
        # the fields start at a known offset, and the first 18 fit in 200 characters.
        split(substr(s, length(pid) + length(name) + 5, 200), f, " ")
        split(line("/proc/" pid "/statm"), r, " ")
        printf "P %s %s %s %d %d %d\n", up, name, pid, f[12] + f[13], r[2] * page_kb, f[18]
    }
    fflush()
}'
