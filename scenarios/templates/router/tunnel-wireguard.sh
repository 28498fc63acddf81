# tun0 is the underlay; the router's tunnel addresses live on wg0, whose peer is boringtun in the hub.
ip addr add {{router_underlay4}}/30 dev tun0 && ip addr add {{router_underlay6}}/64 dev tun0 nodad
umask 077; echo {{wg_private_key}} > /tmp/wg.key; ip link add wg0 type wireguard
wg set wg0 private-key /tmp/wg.key listen-port {{wg_port}} peer {{wg_hub_public_key}} endpoint {{hub_underlay4}}:{{wg_port}} allowed-ips {{hub_tun4}}/32,{{backend_net4}},{{hub_tun6}}/128,{{backend_net6}} persistent-keepalive 5
ip addr add {{router_tun4}}/30 dev wg0 && ip addr add {{router_tun6}}/64 dev wg0 nodad && ip link set wg0 up && ip route add {{backend_net4}} dev wg0 && ip route add {{backend_net6}} dev wg0
