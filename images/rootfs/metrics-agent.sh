#!/bin/sh
# routerlab guest metrics agent. POSIX sh and busybox applets only, so it also runs on
# OpenWrt. Streams one sample every INTERVAL_MS to OUT (a virtio console or serial port):
#   H routerlab-metrics v1 clk_tck=100 interval_ms=N
#   S <uptime> <user> <nice> <system> <idle> <iowait> <irq> <softirq> <steal>   (jiffies, /proc/stat)
#   M <uptime> <MemTotal kB> <MemAvailable kB> <MemFree kB>
#   P <uptime> <name> <pid> <utime+stime jiffies> <VmRSS kB> <threads>
# Processes to watch are named one per line in /tmp/routerlab-watch (read every sample).
# Usage: routerlab-metrics OUT [INTERVAL_MS]
out=${1:-/dev/hvc0}
interval=${2:-500}
sec=$((interval / 1000)).$(printf '%03d' $((interval % 1000)))
exec >"$out"
# USER_HZ is 100 on every Linux userspace ABI.
echo "H routerlab-metrics v1 clk_tck=100 interval_ms=$interval"
while :; do
    read -r up _ </proc/uptime
    read -r _ user nice system idle iowait irq softirq steal _ </proc/stat
    echo "S $up $user $nice $system $idle ${iowait:-0} ${irq:-0} ${softirq:-0} ${steal:-0}"
    total=0 avail=0 free=0
    while read -r key value _; do
        case "$key" in
            MemTotal:) total=$value ;;
            MemAvailable:) avail=$value ;;
            MemFree:) free=$value ;;
        esac
    done </proc/meminfo
    echo "M $up $total $avail $free"
    if [ -r /tmp/routerlab-watch ]; then
        while read -r name; do
            [ -n "$name" ] || continue
            for pid in $(pidof "$name"); do
                line=
                read -r line <"/proc/$pid/stat" 2>/dev/null || continue
                # Fields after "(comm) ": state ppid pgrp session tty tpgid flags minflt
                # cminflt majflt cmajflt utime stime cutime cstime priority nice threads ...
                set -- ${line##*) }
                ticks=$((${12} + ${13}))
                threads=${18}
                rss=0
                while read -r key value _; do
                    [ "$key" = VmRSS: ] && rss=$value
                done <"/proc/$pid/status"
                echo "P $up $name $pid $ticks $rss $threads"
            done
        done </tmp/routerlab-watch
    fi
    sleep "$sec"
done
