# SPDX-License-Identifier: GPL-2.0
# The initial full sync as the DRBD User's Guide does it: both nodes are up and Connected with
# fresh meta data (Inconsistent/Inconsistent), then `drbdadm primary --force` on g1. The peer
# considers a resync (CONSIDER_RESYNC), both run the sync handshake, g1 becomes SyncSource of a
# full sync, and both end UpToDate with the same data; g1 wrote to the device during the sync.
# g2, the SyncTarget, starts with `c-max-rate 2M` (disk-options): the rate it asks for ("want:"
# in /proc/drbd) stays below it, and raising it while the resync runs lets a drbd-rs target ask
# for more at once. g1 takes each of g2's settings over, as the C module does (P_SYNC_PARAM).
# Then c-min-rate: g2 sets `c-min-rate 100k` and invalidates its disk while g1 writes (4 MiB/s,
# the peer's writes are application I/O on g2): the resync is held to about c-min-rate, half
# of the disk still out of sync after 6 s (without writes it takes about 4 s), and goes on at
# full speed once the writes stop.
#@ guests: 2
#@ disks: 64M
#@ timeout: 300
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

common() {
	step "load" load_drbd
	two_node_res r0 "net { protocol C; } disk { c-max-rate 100M; }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	step "both Inconsistent" grep -q 'ds:Inconsistent/Inconsistent' /proc/drbd
	barrier connected
}

# want: the rate the SyncTarget asks for (KiB/s), from /proc/drbd
want() {
	grep -o 'want: [0-9,]*' /proc/drbd | tr -d ', ' | cut -d: -f2
}

want_above() {
	[ "$(want)" -gt "$1" ] 2>/dev/null
}

# net_sent: KiB sent to the peer so far (ns: in /proc/drbd)
net_sent() {
	grep -o 'ns:[0-9]*' /proc/drbd | cut -d: -f2
}

net_sent_above() {
	[ "$(net_sent)" -gt "$1" ]
}

# c_max_rate KIB: whether this node's disk options say c-max-rate KIB (the peer's, taken over)
c_max_rate() {
	/lib/drbd/drbdsetup-84 show r0 --show-defaults | grep -Eq "c-max-rate[[:space:]]+$1k;"
}

g1() {
	barrier paced
	wait_for "g2's c-max-rate taken over" 10 c_max_rate 2048
	step "primary --force" drbdadm primary --force r0
	step "writes during the sync" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=64 seek=100 \
		oflag=direct
	wait_for "full sync done" 240 synced
	step "g2's new c-max-rate taken over" c_max_rate 102400
	dmesg | grep -E 'drbd.*(sync|Sync|bitmap|uuid)' | tail -12
	share sum "$(primary_sum)"
	barrier synced

	barrier c-min-rate
	local sent
	sent=$(net_sent)
	fio --name=app --filename=/dev/drbd0 --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
		--rate=4m --size=8M --time_based --runtime=12 >/dev/null &
	local writer=$!
	# (fio takes seconds to start here)
	wait_for "the writes flow" 30 net_sent_above "$sent"
	barrier writing
	barrier checked
	wait "$writer" || fail "the writes during the resync failed"
	wait_for "resynced" 120 synced
	share sum2 "$(primary_sum)"
	barrier synced2
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	step "c-max-rate 2M" /lib/drbd/drbdsetup-84 disk-options 0 --c-max-rate=2M
	barrier paced
	wait_for "SyncTarget" 60 grep -q 'cs:SyncTarget' /proc/drbd
	sleep 2
	grep -A2 SyncTarget /proc/drbd
	step "asks for at most c-max-rate" test "$(want)" -le 2048
	step "c-max-rate 100M while syncing" /lib/drbd/drbdsetup-84 disk-options 0 --c-max-rate=100M
	if [ "$DRBD_MODULE" = ours ]; then
		wait_for "asks for more" 30 want_above 2048
		grep -A2 SyncTarget /proc/drbd
	fi
	wait_for "full sync done" 240 synced
	dmesg | grep -E 'drbd.*(sync|Sync|bitmap|uuid)' | tail -12
	sum=$(fetch sum)
	expect "same data as g1" "$sum" backing_sum
	barrier synced

	step "c-min-rate 100k" /lib/drbd/drbdsetup-84 disk-options 0 --c-min-rate=100k
	barrier c-min-rate
	barrier writing
	step "invalidate under the peer's writes" drbdadm invalidate r0
	wait_for "SyncTarget" 30 grep -q 'cs:SyncTarget' /proc/drbd
	sleep 6
	grep -A2 SyncTarget /proc/drbd
	step "held to about c-min-rate: half still out of sync" \
		test "$(grep -o 'oos:[0-9]*' /proc/drbd | cut -d: -f2)" -gt $((32 << 10))
	barrier checked
	wait_for "resynced once the writes stopped" 120 synced
	sum=$(fetch sum2)
	expect "same data as g1 again" "$sum" backing_sum
	barrier synced2
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
