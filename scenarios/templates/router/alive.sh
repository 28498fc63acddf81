# Whether the proxy still runs after the load: "alive" if a process of its name is not a
# zombie (a process that exited stays one until its parent reaps it), else "gone".
a=gone; for p in $(pidof {{process}}); do grep -q '^State:[[:space:]]*[^ZX[:space:]]' /proc/$p/status 2>/dev/null && a=alive; done; echo $a
