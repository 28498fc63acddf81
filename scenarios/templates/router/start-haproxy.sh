# Check the config first, so a bad one fails with HAProxy's own words.
if {{env}} {{bin}} -c -f {{config}} > /tmp/proxy.check 2>&1; then {{env}} {{bin}} -D -f {{config}} -p /tmp/haproxy.pid > /tmp/proxy.log 2>&1; else cat /tmp/proxy.check; false; fi
