# The connection-tracking table's size ([router] conntrack-max), once the NAT has loaded
# the conntrack module: what OpenWrt's /etc/sysctl.d/11-nf-conntrack.conf does at boot.
sysctl -qw net.netfilter.nf_conntrack_max={{conntrack_max}}
