# SPDX-License-Identifier: GPL-2.0
# `make demo`: two guests load drbd-rs, try to bring up a replicated resource with stock drbdadm
# and show /proc/drbd. Today `drbdadm up` attaches the disks and stops at connect (see README,
# "Status").
#@ guests: 2
#@ disks: 32M
#@ timeout: 120

common() {
	two_node_res r0 "net { protocol C; }"
	step "load drbd-rs" load_drbd
	step "create meta data" drbdadm create-md --force r0
	say "drbdadm up r0:"
	drbdadm up r0
	say "exit status $? (drbd-rs attaches, but does not connect yet)"
	barrier up
	say "/proc/drbd on $GUEST:"
	cat /proc/drbd
	drbdadm down r0 >/dev/null 2>&1
	step "unload drbd-rs" unload_drbd
}
