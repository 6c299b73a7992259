# SPDX-License-Identifier: GPL-2.0
# `make demo`: two guests load drbd-rs, bring up a replicated resource with stock drbdadm, make
# g1 Primary with `primary --force` (a full sync to g2), write to it, and show /proc/drbd on
# both: first while the sync runs, then Connected and UpToDate/UpToDate.
#@ guests: 2
#@ disks: 64M
#@ timeout: 240

common() {
	two_node_res r0 "net { protocol C; } disk { c-plan-ahead 0; resync-rate 4M; }"
	step "load drbd-rs" load_drbd
	step "create meta data" drbdadm create-md --force r0
	step "drbdadm up r0" drbdadm up r0
	wait_for "the peers met" 60 grep -q 'cs:Connected' /proc/drbd
	barrier connected
	if [ "$GUEST" = g1 ]; then
		step "drbdadm primary --force r0" drbdadm primary --force r0
	fi
	wait_for "the sync began" 30 grep -Eq 'cs:Sync(Source|Target)' /proc/drbd
	sleep 2
	say "/proc/drbd on $GUEST while syncing:"
	cat /proc/drbd
	barrier syncing
	wait_for "the sync is done" 180 grep -q 'ds:UpToDate/UpToDate' /proc/drbd
	if [ "$GUEST" = g1 ]; then
		step "write 4 MiB" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=64 oflag=direct
	fi
	barrier written
	say "kernel log of $GUEST:"
	dmesg | grep 'drbd: r0' | tail -6
	say "/proc/drbd on $GUEST:"
	cat /proc/drbd
	barrier shown
	step "drbdadm down r0" drbdadm down r0
	step "unload drbd-rs" unload_drbd
}
