# SPDX-License-Identifier: GPL-2.0
# Reference: two guests with the in-tree C drbd.ko replicate with stock drbdadm.
#@ guests: 2
#@ module: c
#@ disks: 32M
#@ timeout: 240
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports: drbd_worker's wait_for_work() calls
# maybe_send_barrier(), which takes a mutex, after prepare_to_wait() set TASK_INTERRUPTIBLE.
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

common() {
	two_node_res r0 "net { protocol C; }"
	step "load the C module" load_drbd
	step "create meta data" drbdadm create-md --force r0
	step "bring r0 up" drbdadm up r0
	barrier up
	wait_for "connected" 60 grep -q 'cs:Connected\|cs:SyncSource\|cs:SyncTarget' /proc/drbd
}

uptodate() { grep -q 'ds:UpToDate/UpToDate' /proc/drbd; }

g1() {
	step "promote with --force" drbdadm primary --force r0
	wait_for "initial sync to UpToDate/UpToDate" 180 uptodate
	cat /proc/drbd
	step "write 8 MiB" dd if=/dev/urandom of=/dev/drbd0 bs=1M count=8 oflag=direct
	share sum "$(dd if=/dev/drbd0 bs=1M count=8 iflag=direct 2>/dev/null | md5sum)"
	barrier written
	barrier checked
	step "demote" drbdadm secondary r0
	step "bring r0 down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	wait_for "initial sync to UpToDate/UpToDate" 180 uptodate
	barrier written
	grep -q 'ro:Secondary/Primary' /proc/drbd || fail "peer is not Primary"
	step "bring r0 down" drbdadm down r0
	want=$(fetch sum)
	got=$(dd if=/dev/vda bs=1M count=8 iflag=direct 2>/dev/null | md5sum)
	[ "$got" = "$want" ] || fail "replicated data differs: $got vs $want"
	say "replicated data identical: $got"
	barrier checked
	step "unload" unload_drbd
}
