# Name the NICs after the topology by their MACs, address the WAN, route to the internet hop.
# A link must be down to be renamed (OpenWrt's userland may have brought it up already).
for i in /sys/class/net/*; do [ "$(cat $i/address)" = {{wan_mac}} ] && ip link set dev ${i##*/} down && ip link set dev ${i##*/} name wan0; done; ip link set wan0 up
for i in /sys/class/net/*; do [ "$(cat $i/address)" = {{tun_mac}} ] && ip link set dev ${i##*/} down && ip link set dev ${i##*/} name tun0; done; ip link set tun0 up
ip addr add {{router_wan4}}/{{wan_prefix4}} dev wan0 && ip addr add {{router_wan6}}/64 dev wan0 nodad && ip route replace default via {{internet_wan4}} && ip route replace default via {{internet_wan6}}
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
