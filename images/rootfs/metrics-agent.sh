#!/bin/sh
# routerlab guest metrics agent. POSIX sh and busybox awk only, so it also runs on OpenWrt.
# It talks over PORT (a virtio serial port, or a UART), one line per message.
#
# The host drives it, so the guest runs no clock of its own:
#   t                 take a sample now: the watched processes
#   t [m] [u]         take a sample, also with the guest's memory (m) and clock (u)
#   w NAME...         watch the processes with these names (none: watch nothing)
# It answers once at start with
#   H routerlab-metrics v3 clk_tck=100 page_kb=N cpus=N
# and each `t` with lines of /proc files as they are (the processes' cut short), in this
# order, then a line `.` that ends the sample; the host tells them apart by their shape
# (harness/src/vm/metrics.rs):
#   MemTotal:, MemFree: and MemAvailable: lines    /proc/meminfo (only when asked: m)
#   <uptime> <idle>                                /proc/uptime (only when asked: u)
#   <PID> (<comm>) <state> ... <rss>               /proc/PID/stat to field 24, per watched process
#   .                                              the end of the sample
# The host stamps each sample with its own clock, and maps that to the guest's from the
# samples that carry /proc/uptime.
# The guest does no arithmetic and no formatting: in busybox awk, even a concatenation or
# a number used as an array index costs thousands of instructions.
# Usage: routerlab-metrics PORT
#
# Every instruction it executes is taken from the proxy under test, so it is built to cost
# almost nothing (routerlab measures it in every cell: report.json insns.agent):
# - no process but one awk, which sleeps in read(2) on the port between samples: no fork,
#   no timer and no pipe per sample;
# - per sample, small /proc files (each watched /proc/PID/stat; meminfo and uptime when
#   asked), each in one read(2), printed as they are in one write(2). Measured on aarch64,
#   with 500 asks from a file and one watched process: a plain sample about 34 k user and
#   25 k kernel instructions; /proc/uptime adds about 25 k, which is why it is not in every
#   sample, and /proc/meminfo about 49 k;
# - PIDs are found only when the host names the processes, a watched PID vanishes, or a
#   watched name has no PID yet and a process has started since (/proc/loadavg's last PID).
#   That scan lists /proc with one `sh` and reads each /proc/N/comm. A worker forked later
#   while every watched PID lives on is not seen until one of these. A process that starts
#   during a scan, after the listing, is looked for again at the next sample: the scan
#   counts as seen only the PIDs up to its own `sh`;
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
    print "H routerlab-metrics v3 clk_tck=100 page_kb=" page_kb " cpus=" cpus
    fflush()
    M = "/proc/meminfo"; U = "/proc/uptime"
    # " <RSS limit> ": where each watched process /proc/PID/stat is cut (see $1 == "t").
    split(line("/proc/self/stat"), r, " ")
    R = " " r[25] " "
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
function scan(   ls, all, k, i, cm, found, before) {
    forget(); found = " "
    before = lastpid()
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
    # The one PID a scan itself adds is the listing `sh`. Any other since `before` may
    # have started after the listing: leave it unseen, so a missing name is looked for again.
    seen = lastpid()
    if (seen + 0 != before + 1) seen = before
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
    if ($NF == "u") {
        getline u <U
        close(U)
        print u
    }
    # Each /proc/PID/stat up to its 24th field (RSS): the rest is about 60% of the line,
    # and a UART costs the guest over 100 instructions a byte. Cut where field 25 (the RSS
    # limit) starts, as our own reads; where it differs, the whole line goes.
    for (p in pstat) {
        s = ""
        getline s <p
        close(p)
        if (s == "") lost = 1
        else if (i = index(s, R)) print substr(s, 1, i); else print s
    }
    print "."
    fflush()
    if (lost || (missing && lastpid() != seen)) scan()
}'
