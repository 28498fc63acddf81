# Check the config first, so a bad one fails with nginx's own words.
if {{env}} {{bin}} -t -c {{config}} > /tmp/proxy.check 2>&1; then {{env}} {{bin}} -c {{config}} > /tmp/proxy.log 2>&1; else cat /tmp/proxy.check; false; fi
