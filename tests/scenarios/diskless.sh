# SPDX-License-Identifier: GPL-2.0
# A Primary that detaches its disk while connected keeps its device and serves it through its
# peer: reads become P_DATA_REQUEST / P_DATA_REPLY, writes go to the peer alone. g1 writes,
# detaches (a cluster-wide change the peer agrees to; both nodes show Diskless/UpToDate), reads
# its data back through g2, and writes and verifies 2 MiB more with fio (queue depth 8). g2,
# holding the only disk, counts exactly those 2 MiB out of sync, covers them with its activity
# log (a transaction for their extent), and starts a new data generation. g1, still Primary,
# then attaches its disk again under the connection (Negotiating, the peer's report decides),
# detaches it in the middle of the resync (the resync is cancelled on both sides, the late
# resync data refused without losing the connection), and attaches it once more: only the
# blocks written meanwhile (and the activity log's extents of the detached Primary) are
# resynced, while g1, a Primary SyncTarget, writes over the same blocks, and both disks end
# up the same. Last, g1 connects without a disk: it takes the
# peer's size, and as Primary reads through the peer.
#@ guests: 2
#@ disks: 16M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

common() {
	step "load" load_drbd
	# a slow resync, to detach in the middle of one
	two_node_res r0 "net { protocol C; } disk { c-plan-ahead 0; resync-rate 1M; }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "connected" 30 grep -q 'cs:Connected' /proc/drbd
	barrier connected
}

# oos: the out-of-sync KiB /proc/drbd shows; al: the activity log transactions written
oos() {
	sed -n 's/.* oos:\([0-9]*\).*/\1/p' /proc/drbd
}
al() {
	sed -n 's/.* al:\([0-9]*\).*/\1/p' /proc/drbd
}

g1() {
	# both disks are fresh (zeros): no initial sync
	step "skip the initial sync" drbdadm -- --clear-bitmap new-current-uuid r0
	wait_for "UpToDate on both" 30 synced
	step "primary" drbdadm primary r0
	step "write 4 MiB" dd if=/dev/urandom of=/dev/drbd0 bs=1M count=4 oflag=direct
	first=$(dd if=/dev/drbd0 bs=1M count=4 iflag=direct 2>/dev/null | md5sum)
	size=$(cat /sys/block/drbd0/size)

	step "detach while connected" drbdadm detach r0
	cat /proc/drbd
	step "Diskless, the peer UpToDate" grep -q 'cs:Connected ro:Primary/Secondary ds:Diskless/UpToDate' /proc/drbd
	expect "the device keeps its size" "$size" cat /sys/block/drbd0/size
	barrier detached
	echo 3 >/proc/sys/vm/drop_caches
	expect "data read back through the peer" "$first" sh -c \
		"dd if=/dev/drbd0 bs=1M count=4 iflag=direct 2>/dev/null | md5sum"
	step "2 MiB written and verified through the peer" fio --name=diskless \
		--filename=/dev/drbd0 --direct=1 --rw=randwrite --bs=4k --offset=8M --size=2M \
		--ioengine=libaio --iodepth=8 --verify=crc32c --output-format=terse
	share sum "$(primary_sum)"
	barrier written

	barrier counted
	step "attach again while connected" drbdadm attach r0
	wait_for "resyncing" 30 grep -q 'cs:SyncTarget' /proc/drbd
	sleep 1
	step "detach in the middle of the resync" drbdadm detach r0
	wait_for "Diskless, no resync" 30 grep -q 'cs:Connected ro:Primary/Secondary ds:Diskless/UpToDate' /proc/drbd
	expect "data still read through the peer" "$first" sh -c \
		"dd if=/dev/drbd0 bs=1M count=4 iflag=direct 2>/dev/null | md5sum"
	step "attach once more" drbdadm attach r0
	wait_for "resyncing again" 30 grep -q 'cs:SyncTarget' /proc/drbd
	# the resync requests and the writes over the same blocks wait for each other
	step "writes while a Primary SyncTarget" fio --name=target --filename=/dev/drbd0 \
		--direct=1 --rw=randwrite --bs=4k --offset=8M --size=2M --ioengine=libaio \
		--iodepth=8 --runtime=3 --time_based --output-format=terse
	wait_for "resynced" 60 synced
	cat /proc/drbd
	dmesg | grep -E 'Began resync|Resync done'
	kb=$(dmesg | sed -n 's/.*Began resync as SyncTarget (will sync \([0-9]*\) KB.*/\1/p' | tail -1)
	say "resynced ${kb:-?} KB"
	step "a resync of less than the whole device" test "${kb:-16384}" -lt 16000
	sum=$(primary_sum)
	step "the Primary's data on its disk" same_as "$sum"
	share resynced "$sum"

	# connecting without a disk: the device takes the peer's size
	step "secondary" drbdadm secondary r0
	step "disconnect" drbdadm disconnect r0
	step "detach" drbdadm detach r0
	step "connect without a disk" drbdadm connect r0
	wait_for "connected, Diskless" 30 grep -q 'cs:Connected ro:Secondary/Secondary ds:Diskless/UpToDate' /proc/drbd
	expect "the peer's size" "$size" cat /sys/block/drbd0/size
	step "primary without a disk" drbdadm primary r0
	expect "data read through the peer" "$first" sh -c \
		"dd if=/dev/drbd0 bs=1M count=4 iflag=direct 2>/dev/null | md5sum"
	step "secondary again" drbdadm secondary r0
	barrier done
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	barrier detached
	al_before=$(al)
	barrier written
	cat /proc/drbd
	step "the peer is Diskless" grep -q 'ds:UpToDate/Diskless' /proc/drbd
	expect "the peer's writes out of sync here" 2048 oos
	step "and in the activity log" test "$(al)" -gt "$al_before"
	step "a new data generation" sh -c "dmesg | grep -q 'drbd0: new current UUID [0-9A-F]'"
	step "the peer's data on our disk" same_as "$(fetch sum)"
	barrier counted
	step "the Primary's data on our disk" same_as "$(fetch resynced)"
	expect "nothing out of sync" 0 oos
	barrier done
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
