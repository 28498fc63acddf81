# Shared by the ci/bench-* scripts: source it, do not run it.

# The median of numbers given one per line or separated by spaces on stdin.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
