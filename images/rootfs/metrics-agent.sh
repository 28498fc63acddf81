#!/bin/sh
# routerlab guest metrics agent. POSIX sh and busybox awk only, so it also runs on OpenWrt.
# It talks over PORT (a virtio serial port, or a UART), one line per message.
#
# The host drives it, so the guest runs no clock of its own:
#   t                 take a sample now
#   t m               take a sample, with the guest's memory
#   w NAME...         watch the processes with these names (none: watch nothing)
# It answers once at start with
#   H routerlab-metrics v2 clk_tck=100 page_kb=N cpus=N
# and each `t` with lines of /proc files as they are, in this order; the host tells them
# apart by their shape (harness/src/vm/metrics.rs):
#   MemTotal:, MemFree: and MemAvailable: lines    /proc/meminfo (only when asked: `t m`)
#   <uptime> <idle>                                /proc/uptime: one per sample
#   <PID> (<comm>) <state> ...                     /proc/PID/stat, per watched process
# The guest does no arithmetic and no formatting: in busybox awk, even a concatenation or
# a number used as an array index costs thousands of instructions.
# Usage: routerlab-metrics PORT
#
# Every instruction it executes is taken from the proxy under test, so it is built to cost
# almost nothing (routerlab measures it in every cell: report.json insns.agent):
# - no process but one awk, which sleeps in read(2) on the port between samples: no fork,
#   no timer and no pipe per sample;
# - per sample, small /proc files (uptime, each watched /proc/PID/stat, and meminfo when
#   asked), each in one read(2), printed as they are in one write(2). Measured on aarch64
#   with 400 asks from a file: about 45 k user and 50 k kernel instructions each;
# - PIDs are found only when the host names the processes, a watched PID vanishes, or a
#   watched name has no PID yet and a process has started since (/proc/loadavg's last PID).
#   That scan lists /proc with one `sh` and reads each /proc/N/comm. A worker forked later
#   while every watched PID lives on is not seen until one of these;
# - PORT should not be a tty: a virtio console cost about 260 k guest instructions per
#   sample in the tty layer, a virtio serial port (init's default) about 14 k.
port=${1:-/dev/hvc0}
# One open, read and write: a virtio serial port may be opened only once. Nothing on
# stderr: it is the console, where routerlab runs its commands.
exec <>"$port" >&0 2>/dev/null
exec awk '
BEGIN {
    # RSS in /proc/PID/stat is in pages: learn the page size from our own RSS in kB and in
    # pages. Just after exec both can be as small as 4 kB and 1 page: take the nearest power
    # of two of their ratio.
    while ((getline l <"/proc/self/status") > 0)
        if (substr(l, 1, 6) == "VmRSS:") { split(l, r, " "); kb = r[2] }
    close("/proc/self/status")
    split(line("/proc/self/statm"), r, " ")
    page_kb = 4
    for (p = 8; r[2] > 0 && p <= 64; p *= 2)
        if (kb / r[2] >= p * 0.75) page_kb = p
    # The idle time in /proc/uptime is summed over the CPUs.
    cpus = 0
    while ((getline l <"/proc/stat") > 0)
        if (substr(l, 1, 3) == "cpu" && substr(l, 4, 1) ~ /[0-9]/) cpus++
    close("/proc/stat")
    print "H routerlab-metrics v2 clk_tck=100 page_kb=" page_kb " cpus=" cpus
    fflush()
    M = "/proc/meminfo"; U = "/proc/uptime"
}
function line(f,   l) {
    l = ""
    getline l <f
    close(f)
    return l
}
function lastpid(   k, f) {
    k = split(line("/proc/loadavg"), f, " ")
    return f[k]
}
function forget(   k) {
    for (k in pstat) delete pstat[k]
    lost = 0
}
# The stat files of the PIDs of the watched names, from each /proc/N/comm.
function scan(   ls, all, k, i, cm, found) {
    forget(); found = " "
    ls = "cd /proc && echo [0-9]*"
    all = ""
    ls | getline all
    close(ls)
    k = split(all, d, " ")
    for (i = 1; i <= k; i++) {
        cm = line("/proc/" d[i] "/comm")
        if (cm != "" && index(names, " " cm " ")) {
            pstat["/proc/" d[i] "/stat"] = 1
            if (!index(found, " " cm " ")) found = found cm " "
        }
    }
    missing = 0
    k = split(names, d, " ")
    for (i = 1; i <= k; i++) if (!index(found, " " d[i] " ")) missing = 1
    seen = lastpid()
}
$1 == "w" {
    names = " "
    for (i = 2; i <= NF; i++) names = names $i " "
    if (NF > 1) scan(); else { forget(); missing = 0 }
    next
}
$1 == "t" {
    if ($2 == "m") {
        getline a <M; getline b <M; getline c <M
        close(M)
        print a; print b; print c
    }
    getline u <U
    close(U)
    print u
    for (p in pstat) {
        s = ""
        getline s <p
        close(p)
        if (s == "") lost = 1; else print s
    }
    fflush()
    if (lost || (missing && lastpid() != seen)) scan()
}'
