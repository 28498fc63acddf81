# Stop the previous cell's proxy and wait (at most 10 s) until nothing listens on 443.
for p in $(pidof {{process}}); do kill $p; done; i=0; while {{listening_443}}; do i=$((i+1)); [ $i -gt 50 ] && exit 1; sleep 0.2; done; rm -f /tmp/proxy.log /tmp/proxy.check
