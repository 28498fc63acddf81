# Check the config first, so a bad one fails with HAProxy's own words. As a daemon (-D) it
# closes stderr, so a crash or a watchdog kill during the cell leaves nothing in
# /tmp/proxy.log. Foreground mode (-db) would keep its words, but it cost the shipped
# re-encrypt config 60% of its req/s on mipsel-malta (91-95 req/s and 436 k instructions
# per request against 215-225 and 343 k as a daemon, measured side by side), so not that.
if {{env}} {{bin}} -c -f {{config}} > /tmp/proxy.check 2>&1; then {{env}} {{bin}} -D -f {{config}} -p /tmp/haproxy.pid > /tmp/proxy.log 2>&1; else cat /tmp/proxy.check; false; fi
