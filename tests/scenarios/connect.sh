# SPDX-License-Identifier: GPL-2.0
# connect, disconnect and net-options with stock drbdadm/drbdsetup-84 on a node whose peer is
# not there: the connection waits (WFConnection) and listens, as with the C module; the
# refusals (connect twice, del-resource while connected, endpoints in use, unknown
# connection) and /proc/drbd, show, cstate and status (the get-connections and
# get-peer-devices dumps) print the same as with C. g2 only provides the
# network (g1's address exists once the link is up).
#@ guests: 2
#@ disks: 64M

commands() {
	drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null 2>&1
	echo "== drbdadm up"
	drbdadm up r0 2>&1
	echo "rc=$?"
	show_proc
	show84 show
	show84 0 cstate
	show84 status r0 --verbose
	show84 connect r0 ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789
	show84 new-resource r1
	show84 connect r1 ipv4:10.0.0.1:7789 ipv4:10.0.0.3:7789
	show84 connect r1 ipv4:10.0.0.1:7790 ipv4:10.0.0.2:7789
	show84 del-resource r1
	show84 del-resource r0
	show84 net-options ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789 --ping-int=3 --protocol=B
	show_proc
	show84 show
	show84 net-options ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789 --shared-secret=geheim
	echo "== show, as root: with the secret"
	/lib/drbd/drbdsetup-84 show | grep secret
	show84 net-options ipv4:10.0.0.1:7789 ipv4:10.0.0.9:7789 --ping-int=3
	show84 disconnect ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789
	show_proc
	show84 disconnect ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789
	echo "== drbdadm connect"
	drbdadm connect r0 2>&1
	echo "rc=$?"
	show_proc
	show84 down r0
	show_proc
}

g1() {
	two_node_res r0
	compare_with_c commands
	step "unload drbd-rs" /sbin/rmmod drbd
	barrier done
}

g2() {
	barrier done
}
