# SPDX-License-Identifier: GPL-2.0
# Ahead/Behind (`on-congestion pull-ahead`, protocol A): the Secondary's disk is slow (a
# dm-delay device, 100 ms per write), so the Primary's writes outrun it and the data in flight
# passes `congestion-fill`. The Primary logs "Congestion-fill threshold reached" and goes Ahead
# (ds:UpToDate/Consistent), the Secondary Behind (ds:Outdated/UpToDate); the Primary's writes
# stay local and the peer is told of them with P_OUT_OF_SYNC. Once the writes stop and every
# one sent is on the peer's disk, the Primary begins a resync as SyncSource a second later, and
# both end Connected and UpToDate with the same data. With the C module on either node too.
# Then, with drbd-rs as the Primary, `net-options --on-congestion disconnect`: the same load
# drops the connection, which is made again and resynced. (The in-tree C module cannot do this:
# it sets the volume's state to Disconnecting alone, its receiver then fails "In transient
# state" and the connection stays Disconnecting for good.)
#@ guests: 2
#@ disks: 16M
#@ timeout: 300
#@ variant: rs-rs g1=ours g2=ours disconnect=1
#@ variant: rs-c g1=ours g2=c disconnect=1
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

common() {
	step "load" load_drbd
	disk=/dev/vda
	if [ "$GUEST" = g2 ]; then
		# reads at once, writes (and flushes) after 100 ms
		step "dm-delay device over vda" dms create d0 --table \
			"0 $(cat /sys/block/vda/size) delay /dev/vda 0 0 /dev/vda 0 100"
		disk=/dev/mapper/d0
	fi
	two_node_res r0 "net { protocol A; on-congestion pull-ahead; congestion-fill 256; connect-int 2; }
		disk { c-plan-ahead 0; resync-rate 40M; }" "$disk"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "connected" 30 grep -q 'cs:Connected' /proc/drbd
	barrier connected
}

# watch_states: records every line of device 0 in /proc/drbd seen (its connection and disk states) in
# /tmp/states until stop_watching
watch_states() {
	: >/tmp/states
	(
		prev=
		while :; do
			line=$(sed -n "s/^ *0: //p" /proc/drbd)
			[ "$line" = "$prev" ] || echo "$line" >>/tmp/states
			prev=$line
			sleep 0.05
		done
	) &
	watcher=$!
}
stop_watching() {
	kill "$watcher"
	wait "$watcher" 2>/dev/null
	cut -c1-70 /tmp/states
}

load() {
	fio --name=ahead --filename=/dev/drbd0 --direct=1 --ioengine=libaio --iodepth=16 \
		--rw=randwrite --bsrange=4k-64k --size=2M --time_based --runtime="$1" \
		--randrepeat=0 >/dev/null
}

# same_data: both nodes' backing disks hold the same data, the Primary's (g1's), which it
# wrote before. With protocol A the Secondary may still be writing data it received when both
# show UpToDate (the Primary's last epoch, behind the resync replies): its disk must come to
# hold the Primary's data within 30 s.
same_data() {
	if [ "$GUEST" = g1 ]; then
		share "sum$1" "$(backing_sum "$disk")"
		step "$1: the peer's backing disk holds the same data" test "$(fetch "same$1")" = yes
	else
		wait_for "$1: this backing disk holds the Primary's data" 30 \
			same_as "$(fetch "sum$1")" "$disk"
		share "same$1" yes
	fi
}

g1() {
	step "skip the initial sync" drbdadm -- --clear-bitmap new-current-uuid r0
	wait_for "UpToDate on both" 30 synced
	step "primary" drbdadm primary r0
	barrier primary

	watch_states
	step "writes faster than the peer's disk takes them" load 5
	barrier written
	wait_for "went Ahead of the peer" 60 \
		grep -q 'cs:Ahead ro:Primary/Secondary ds:UpToDate/Consistent A' /tmp/states
	wait_for "resynced" 90 synced
	stop_watching
	step "congestion seen" sh -c "dmesg | grep 'Congestion-fill threshold reached'"
	step "then resynced the peer" grep -q 'cs:SyncSource' /tmp/states
	step "nothing out of sync" grep -q 'oos:0$' /proc/drbd
	same_data pull-ahead
	if [ -n "$drbdrs_disconnect" ]; then
		disconnect_on_congestion
	fi
	step "secondary" drbdadm secondary r0
	barrier g1-down
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

disconnect_on_congestion() {
	step "on-congestion disconnect" /lib/drbd/drbdsetup-84 net-options \
		ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789 --on-congestion=disconnect
	barrier disconnect-set
	watch_states
	step "writes again" load 3
	wait_for "connected and resynced" 90 synced
	stop_watching
	step "the connection was dropped" grep -q 'cs:\(WFConnection\|Unconnected\|NetworkFailure\)' /tmp/states
	step "twice congested" test "$(dmesg | grep -c 'Congestion-fill threshold reached')" -ge 2
	step "never Ahead with disconnect" test "$(grep -c 'cs:Ahead' /tmp/states)" = 0
	barrier resynced
	same_data disconnect
}

g2() {
	barrier primary
	watch_states
	barrier written
	# (the Primary's P_STATE of going Ahead waits behind the data on the congested socket:
	# it may arrive after the writes end, and "resynced" must not be the state before it)
	wait_for "was Behind" 60 grep -q 'cs:Behind ro:Secondary/Primary ds:Outdated/UpToDate A' \
		/tmp/states
	wait_for "resynced" 90 synced
	stop_watching
	step "then a SyncTarget" grep -q 'cs:SyncTarget' /tmp/states
	same_data pull-ahead
	if [ -n "$drbdrs_disconnect" ]; then
		barrier disconnect-set
		barrier resynced
		same_data disconnect
	fi
	barrier g1-down
	step "down" drbdadm down r0
	step "unload" unload_drbd
	step "remove the dm-delay device" dms remove d0
}
