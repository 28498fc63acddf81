#!/bin/sh
# routerlab guest metrics agent. POSIX sh and busybox applets (sh, awk, mkfifo) only, so it
# also runs on OpenWrt. Streams one sample every INTERVAL_MS to OUT (a virtio serial port or
# a UART):
#   H routerlab-metrics v1 clk_tck=100 interval_ms=N
#   S <uptime> <user> <nice> <system> <idle> <iowait> <irq> <softirq> <steal>   (jiffies, /proc/stat)
#   M <uptime> <MemTotal kB> <MemAvailable kB> <MemFree kB>
#   P <uptime> <name> <pid> <utime+stime jiffies> <RSS kB> <threads>
# Processes to watch are named one per line in /tmp/routerlab-watch.
# Usage: routerlab-metrics OUT [INTERVAL_MS]
#
# Every instruction it executes is taken from the proxy under test, so it is built to cost
# almost nothing (routerlab measures it in every cell: report.json insns.agent):
# - no fork per sample. The shell below only ticks: `read -t` on a FIFO is the sleep. One
#   awk does the rest, and reads each /proc file in one read(2); the shell's `read` builtin
#   makes two system calls per byte.
# - no periodic scan of /proc. awk finds the watched PIDs (reading every /proc/N/comm, about
#   1 M guest instructions) only when the watch file changes, a watched PID vanishes, or a
#   watched name has no PID yet and a process has started since (/proc/loadavg's last PID).
#   It asks the shell for the list of /proc entries through the FIFO, which also wakes it.
#   A worker forked later while every watched PID lives on is not seen until one of these.
# - OUT should not be a tty: a virtio console cost about 260 k guest instructions per sample
#   in the tty layer, a virtio serial port (init's default) about 14 k.
out=${1:-/dev/hvc0}
interval=${2:-500}
sec=$((interval / 1000)).$((interval % 1000 / 100))$((interval % 100 / 10))$((interval % 10))
# Nothing on stderr: it is the console, where routerlab runs its commands.
exec >"$out" 2>/dev/null
tick=/tmp/.routerlab-metrics-tick
rm -f "$tick"
mkfifo "$tick" && exec 3<>"$tick"
echo "H routerlab-metrics v1 clk_tck=100 interval_ms=$interval"

while :; do
    if [ "$req" = scan ]; then
        echo scan /proc/[0-9]*
    else
        echo tick
    fi
    req=
    read -r -t "$sec" req <&3
done | exec awk -v fifo="$tick" '
# RSS from statm is in pages: learn the page size once from our own VmRSS.
BEGIN {
    while ((getline l <"/proc/self/status") > 0)
        if (substr(l, 1, 6) == "VmRSS:") { split(l, r, " "); kb = r[2] }
    close("/proc/self/status")
    split(line("/proc/self/statm"), r, " ")
    page_kb = 4
    for (p = 4; p <= 64; p *= 2)
        if (r[2] * p >= kb - p && r[2] * p <= kb + p) page_kb = p
    watch = ""; npids = 0; asked = 0
}
function line(f,   l) {
    l = ""
    getline l <f
    close(f)
    return l
}
function ask() {
    if (asked) return
    print "scan" >fifo
    close(fifo)
    asked = 1
}
# "scan /proc/1 /proc/2 ...": the PIDs of the watched names, from each comm.
$1 == "scan" {
    asked = 0; npids = 0
    for (i = 2; i <= NF; i++) {
        cm = line($i "/comm")
        if (cm != "" && index(" " watch " ", " " cm " ")) {
            npids++; pname[npids] = cm; pid[npids] = substr($i, 7)
        }
    }
    lastpid = lastpid_now()
    next
}
function lastpid_now(   l, n, f) {
    l = line("/proc/loadavg")
    n = split(l, f, " ")
    return f[n]
}
{
    # The watch file, one read; a change means a new scan.
    w = ""
    while ((getline x <"/tmp/routerlab-watch") > 0) w = w (w == "" ? "" : " ") x
    close("/tmp/routerlab-watch")
    if (w != watch) { watch = w; npids = 0; if (w != "") ask() }
    else if (w != "" && npids == 0 && lastpid_now() != lastpid) ask()

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
    for (i = 1; i <= npids; i++) {
        name = pname[i]; p = pid[i]
        s = line("/proc/" p "/stat")
        if (s == "") { ask(); continue }
        # "PID (NAME) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        # utime stime cutime cstime priority nice threads ...": NAME is the watched comm, so
        # the fields start at a known offset, and the first 18 fit in 200 characters.
        split(substr(s, length(p) + length(name) + 5, 200), f, " ")
        split(line("/proc/" p "/statm"), r, " ")
        printf "P %s %s %s %d %d %d\n", up, name, p, f[12] + f[13], r[2] * page_kb, f[18]
    }
    fflush()
}'
