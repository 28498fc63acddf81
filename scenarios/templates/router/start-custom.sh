# A custom build's own start command ({bin} and {config} already filled in); it must
# daemonize or background itself, and its process must be running a second later.
{{env}} {{start}} > /tmp/proxy.log 2>&1; s=$?; sleep 1; if [ $s -ne 0 ] || ! pidof {{process}} > /dev/null; then cat /tmp/proxy.log; false; fi
