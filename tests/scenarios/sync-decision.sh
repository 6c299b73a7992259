# SPDX-License-Identifier: GPL-2.0
# The per-volume handshake and the sync decision (drbd_sync_handshake()) between drbd-rs on g1
# and the in-tree C module on g2: g1 is a forced Primary with new data, g2 freshly created.
# Both send their sync parameters, sizes, UUIDs and state; both log the same UUID sets and
# mirrored decisions (g1 becomes sync source by rule 30, g2 sync target by rule 20); the resync
# itself is the resync and initial-sync scenarios' business.
#@ guests: 2
#@ disks: 64M
#@ module: g1=ours g2=c
#@ timeout: 180

g1() {
	step "load" load_drbd
	two_node_res r0
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	step "primary --force" drbdadm primary --force r0
	barrier primary
	wait_for "decision made" 30 sh -c "dmesg | grep -q 'uuid_compare()='"
	dmesg | grep 'drbd: r0' | tail -12
	step "uuid_compare as C computes it" sh -c "dmesg | grep -q 'uuid_compare()=2 by rule 30'"
	barrier decided
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	step "load" load_drbd
	two_node_res r0
	step "create-md" drbdadm --force create-md r0
	barrier primary
	step "up" drbdadm up r0
	wait_for "decision made" 30 sh -c "dmesg | grep -q 'uuid_compare()='"
	dmesg | grep 'drbd r0' | tail -12
	step "the C module decides the mirror" sh -c "dmesg | grep -q 'uuid_compare()=-2 by rule 20'"
	barrier decided
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
