# SPDX-License-Identifier: GPL-2.0
# A graceful disconnect with `fencing resource-only` outdates a disk as the C module's
# conn_try_disconnect() does. g1 is Primary, g2 Secondary, both UpToDate. `disconnect` on the
# Primary asks the peer to go Outdated with it: g1 shows UpToDate/Outdated, g2 Outdated. They
# connect again (UpToDate/UpToDate). `disconnect` on the Secondary is refused by the Primary
# ("the peer must be Outdated"), so the Secondary asks again, outdating itself: g2 Outdated,
# g1 UpToDate/Outdated.
#@ guests: 2
#@ disks: 64M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

common() {
	step "load" load_drbd
	two_node_res r0 "disk { fencing resource-only; }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	barrier connected
}

g1() {
	step "new-current-uuid --clear-bitmap" drbdadm new-current-uuid --clear-bitmap r0
	wait_for "UpToDate on both" 30 synced
	step "primary" drbdadm primary r0
	barrier primary
	step "disconnect the Primary" drbdadm disconnect r0
	cat /proc/drbd
	step "the peer is Outdated" grep -q 'cs:StandAlone ro:Primary/Unknown ds:UpToDate/Outdated' \
		/proc/drbd
	barrier outdated-peer
	step "connect" drbdadm connect r0
	wait_for "UpToDate on both again" 60 synced
	barrier reconnected
	barrier secondary-left
	wait_for "the peer went" 30 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	cat /proc/drbd
	step "the peer outdated itself" grep -q 'ro:Primary/Unknown ds:UpToDate/Outdated' /proc/drbd
	step "writes still work" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=16 oflag=direct
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	wait_for "UpToDate on both" 30 synced
	barrier primary
	barrier outdated-peer
	wait_for "waiting for the peer" 30 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	cat /proc/drbd
	step "outdated by the Primary" grep -q 'ro:Secondary/Unknown ds:Outdated/DUnknown' /proc/drbd
	barrier reconnected
	step "disconnect the Secondary" drbdadm disconnect r0
	cat /proc/drbd
	step "outdated itself" grep -q 'cs:StandAlone ro:Secondary/Unknown ds:Outdated/DUnknown' \
		/proc/drbd
	barrier secondary-left
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
