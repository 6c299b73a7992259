# SPDX-License-Identifier: GPL-2.0
# Dual-primary (allow-two-primaries): the pair connects with protocol B and one Primary at
# most; g1 changes to protocol C and allow-two-primaries with `net-options` while connected,
# which its peer takes over (P_PROTOCOL_UPDATE: its `show` tells). Then both nodes Primary
# write at once, fio for some seconds,
# then twenty rounds in lockstep of one write each. Between drbd-rs nodes (same=1) they write
# the same blocks, in overlapping requests of different sizes (in the rounds, one inside the
# other): the node that resolves conflicts (whose peer connected the meta socket) supersedes
# the peer's write that its own covers (P_SUPERSEDED) or has the peer do it again after its own
# (P_RETRY_WRITE), and logs "Concurrent writes detected"; the other waits for its own write's
# fate before it writes the peer's. With the C module they write next to each other, as
# cluster file systems do: no conflict is seen. Either way both backing disks end up with the
# same data, every write acknowledged, still connected. Then both go Secondary and down.
#
# The C module (8.4.11) cannot take part in conflicts: as resolver it never acknowledges the
# barrier of an epoch with a write it superseded or had retried (receive_Data() returns without
# drbd_may_finish_epoch()), and as the other node its barrier ack count depends on whether a
# retried write was restarted yet; two C nodes drop their connection ("BAD! BarrierAck")
# within seconds of such writes.
#@ guests: 2
#@ disks: 16M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours same=1
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

common() {
	step "load" load_drbd
	two_node_res r0 "net { protocol B; }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	barrier connected
	if [ "$GUEST" = g1 ]; then
		step "net-options while connected" /lib/drbd/drbdsetup-84 net-options \
			ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789 --protocol=C --allow-two-primaries=yes
	fi
	barrier net-options
	wait_for "protocol C on both" 10 \
		grep -q 'cs:Connected ro:[A-Za-z]*/[A-Za-z]* ds:[A-Za-z]*/[A-Za-z]* C ' /proc/drbd
	wait_for "two Primaries allowed on both" 10 sh -c \
		"/lib/drbd/drbdsetup-84 show r0 | grep -q 'allow-two-primaries[[:space:]]*yes'"
	/lib/drbd/drbdsetup-84 show r0
}

# both N: what each node does, N its number
both() {
	if [ "$1" = 1 ]; then
		step "new-current-uuid --clear-bitmap" drbdadm new-current-uuid --clear-bitmap r0
	fi
	wait_for "UpToDate on both" 30 synced
	# one after the other: promotions at the same moment are concurrent cluster-wide state
	# changes, of which the resolving node refuses the peer's (C: SS_CONCURRENT_ST_CHG, -19)
	[ "$1" = 1 ] && step "primary" drbdadm primary r0
	barrier first-primary
	[ "$1" = 2 ] && step "primary" drbdadm primary r0
	barrier primary
	wait_for "both Primary" 30 grep -q 'ro:Primary/Primary' /proc/drbd
	barrier write
	# each node writes its own byte, so that the data tells who wrote last; with C, each
	# into its own half
	local base=$((4 << 20)) half=0
	[ -n "$drbdrs_same" ] || half=$((($1 - 1) << 18))
	step "writes from both nodes at once" fio --name=dual$1 --filename=/dev/drbd0 \
		--direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite --bsrange=4k-64k --size=256k \
		--offset=$((base + half)) --time_based --runtime=4 --randrepeat=0 \
		--buffer_pattern=0x$1$1
	# then in lockstep: each round both write at once, one 64 KiB, the other 16 KiB (inside
	# it, or with C after it), the larger one on each node in turn; without conflict
	# resolution the two writes of a round can reach the two disks in opposite orders
	head -c 65536 /dev/zero | tr '\0' "\0$1$1" >/tmp/pattern
	local i size at
	for i in $(seq 1 20); do
		if [ $(((i + $1) % 2)) = 0 ]; then
			size=65536 at=$((base + (1 << 20)))
		else
			size=16384 at=$((base + (1 << 20) + 32768))
			[ -n "$drbdrs_same" ] || at=$((at + 65536))
		fi
		barrier round$i
		dd if=/tmp/pattern of=/dev/drbd0 bs=$size count=1 seek=$at oflag=direct,seek_bytes \
			2>/dev/null || fail "round $i: write"
	done
	barrier written
	wait_for "nothing in flight" 20 grep -q 'pe:0 ua:0 ap:0 ' /proc/drbd
	step "still connected, both UpToDate" synced
	cat /proc/drbd
	dmesg | grep 'Concurrent writes detected' | tail -3
	share conflicts$1 "$(dmesg | grep -c 'Concurrent writes detected')"
	share sum$1 "$(backing_sum)"
	local other=$((3 - $1))
	local mine theirs
	mine=$(fetch sum$1)
	theirs=$(fetch sum$other)
	echo "backing disks: mine $mine, the peer's $theirs"
	step "both backing disks hold the same data" test "$mine" = "$theirs"
	local conflicts=$(($(fetch conflicts1) + $(fetch conflicts2)))
	if [ -n "$drbdrs_same" ]; then
		step "conflicts were resolved" test $conflicts -gt 0
	else
		step "no conflict seen in writes next to each other" test $conflicts = 0
	fi
	barrier compared
	step "secondary" drbdadm secondary r0
	barrier secondary
	# one node at a time (see replicate.sh)
	if [ "$1" = 2 ]; then barrier g1-down; fi
	step "down" drbdadm down r0
	if [ "$1" = 1 ]; then barrier g1-down; fi
	step "unload" unload_drbd
}

g1() { both 1; }
g2() { both 2; }
