# SPDX-License-Identifier: GPL-2.0
# A rolling upgrade from the C module to drbd-rs under write load, as an operator does it: a
# C pair, g1 Primary, and a writer on g1 that records each write the moment it is
# acknowledged. g2, Secondary, goes down, switches to drbd-rs and comes up again: it resyncs
# what g1 wrote meanwhile, while the writes go on (C SyncSource, drbd-rs SyncTarget). Then the
# Primary role moves (the writer stops, g1 is demoted, g2 promoted, the writer goes on on g2),
# and g1 switches to drbd-rs the same way (a drbd-rs pair from then on, resyncing under
# load). At the end every acknowledged write, of either Primary, is on g2, and g1's disk
# holds the same data.
#@ guests: 2
#@ disks: 32M
#@ timeout: 300
#@ variant: c-c g1=c g2=c
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# the 4 KiB block number I: its text, padded
block() {
	printf '%-4095s\n' "upgrade block $1"
}

# writer FIRST: writes blocks FIRST, FIRST+1, ... each after the previous one was acknowledged,
# until /tmp/stop exists; /tmp/acked is the last acknowledged one
writer() {
	i=$1
	while [ ! -e /tmp/stop ]; do
		block $i | dd of=/dev/drbd0 bs=4096 count=1 seek=$i oflag=direct 2>/dev/null ||
			fail "write of block $i failed"
		echo $i >/tmp/acked.new && mv /tmp/acked.new /tmp/acked
		i=$((i + 1))
	done
}

start_writer() {
	rm -f /tmp/stop
	echo $(($1 - 1)) >/tmp/acked
	writer "$1" &
	wpid=$!
}

stop_writer() {
	touch /tmp/stop
	wait $wpid
}

# acked_beyond N: whether writes up to beyond block N have been acknowledged
acked_beyond() {
	[ "$(cat /tmp/acked)" -gt "$1" ]
}

# upgrade: takes this node down, switches it to drbd-rs and brings it up again
upgrade() {
	step "down (C)" drbdadm down r0
	step "unload the C module" unload_drbd
	DRBD_MODULE=ours
	step "load drbd-rs" load_drbd
	step "up (drbd-rs)" drbdadm up r0
}

common() {
	step "load" load_drbd
	two_node_res r0 "net { protocol C; } disk { c-max-rate 100M; }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	barrier connected
}

g1() {
	step "skip the initial sync" drbdadm new-current-uuid --clear-bitmap r0
	wait_for "UpToDate on both" 30 synced
	step "primary" drbdadm primary r0
	start_writer 0
	wait_for "writes acknowledged" 30 acked_beyond 20
	barrier writing
	wait_for "the peer gone" 30 grep -q 'cs:WFConnection' /proc/drbd
	wait_for "the peer back, resynced" 120 synced
	step "a SyncSource of what was written meanwhile" sh -c \
		"dmesg | grep -q 'Began resync as SyncSource'"
	barrier upgraded2
	stop_writer
	share acked1 "$(cat /tmp/acked)"
	say "g1 wrote blocks up to $(cat /tmp/acked)"
	step "secondary" drbdadm secondary r0
	barrier demoted
	barrier promoted
	upgrade
	wait_for "resynced from g2 under load" 120 synced
	barrier upgraded1
	share g1sum "$(backing_sum)"
	barrier compared
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	barrier writing
	upgrade
	wait_for "resynced from g1 under load" 120 synced
	step "a SyncTarget of what was written meanwhile" sh -c \
		"dmesg | grep -q 'Began resync as SyncTarget'"
	barrier upgraded2
	barrier demoted
	step "primary" drbdadm primary r0
	acked1=$(fetch acked1)
	start_writer $((acked1 + 1))
	wait_for "writes acknowledged" 30 acked_beyond $((acked1 + 20))
	barrier promoted
	wait_for "the peer gone" 30 grep -q 'cs:WFConnection' /proc/drbd
	wait_for "the peer back, resynced" 120 synced
	stop_writer
	barrier upgraded1
	acked=$(cat /tmp/acked)
	say "g2 wrote blocks $((acked1 + 1)) to $acked"
	i=0
	while [ $i -le "$acked" ]; do
		block $i
		i=$((i + 1))
	done >/tmp/expected
	step "every acknowledged write is there" sh -c \
		"head -c $(((acked + 1) * 4096)) /dev/drbd0 | cmp - /tmp/expected"
	sum=$(primary_sum)
	step "g1 holds the same data" [ "$(fetch g1sum)" = "$sum" ]
	barrier compared
	step "secondary" drbdadm secondary r0
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
