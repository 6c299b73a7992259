# SPDX-License-Identifier: GPL-2.0
# Two nodes find each other: drbd-rs on g1, and on g2 drbd-rs or the in-tree C module (two
# variants). Both listen and connect as conn_connect() does, tell the data socket
# from the meta socket by their first packets, and agree on protocol version 101 with
# P_CONNECTION_FEATURES; both kernels log it. The nodes connect (Connected); down ends it all
# cleanly on both.
#@ guests: 2
#@ disks: 64M
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ timeout: 180

common() {
	step "load" load_drbd
	two_node_res r0
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	barrier up
	wait_for "protocol version agreed" 30 \
		sh -c "dmesg | grep -q 'Agreed network protocol version 101'"
	barrier agreed
}

g1() {
	wait_for "Connected" 30 grep -q 'cs:Connected' /proc/drbd
	step "down" drbdadm down r0
	barrier down
	step "unload" unload_drbd
}

g2() {
	barrier down
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
