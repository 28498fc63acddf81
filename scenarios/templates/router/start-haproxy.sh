# Check the config first, so a bad one fails with HAProxy's own words. Then start it in the
# foreground (-db), in the background of the console's shell, so what it says on stderr
# stays in /tmp/proxy.log: as a daemon (-D) it closes stderr, and a watchdog kill or a
# crash during the cell left no word. routerlab waits for its listener, and fails the
# deploy at once with the log if the process exits first.
if {{env}} {{bin}} -c -f {{config}} > /tmp/proxy.check 2>&1; then {{env}} {{bin}} -db -f {{config}} > /tmp/proxy.log 2>&1 & else cat /tmp/proxy.check; false; fi
