# SPDX-License-Identifier: GPL-2.0
# `make demo`: two guests load drbd-rs, bring up a replicated resource with stock drbdadm and
# show /proc/drbd. Today the nodes find each other and agree on the protocol, but do not
# replicate yet: the connection is dropped and tried again (see README, "Status").
#@ guests: 2
#@ disks: 32M
#@ timeout: 120

common() {
	two_node_res r0 "net { protocol C; }"
	step "load drbd-rs" load_drbd
	step "create meta data" drbdadm create-md --force r0
	step "drbdadm up r0" drbdadm up r0
	barrier up
	wait_for "the peers met" 30 sh -c "dmesg | grep -q 'Agreed network protocol version'"
	barrier met
	say "kernel log of $GUEST:"
	dmesg | grep 'drbd: r0' | tail -4
	say "/proc/drbd on $GUEST:"
	cat /proc/drbd
	barrier shown
	step "drbdadm down r0" drbdadm down r0
	step "unload drbd-rs" unload_drbd
}
