# No VPN: tun0 is a plain routed link to the hub, labelled as such in reports.
ip addr add {{router_tun4}}/30 dev tun0 && ip addr add {{router_tun6}}/64 dev tun0 nodad
ip route add {{backend_net4}} via {{hub_tun4}} && ip route add {{backend_net6}} via {{hub_tun6}}
