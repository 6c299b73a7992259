# SPDX-License-Identifier: GPL-2.0
# State-change broadcasts on the `events` group: `drbdsetup-84 events all` follows attach
# (through Attaching), primary --force, secondary, invalidate, detach (through Failed) and down,
# and prints the same ST-prev/ST-new/ST lines, with the same sequence numbers, as with the C
# module. Commands that change no state (disk-options, new-current-uuid) announce nothing. The
# DRBD 9 style notifications the C module sends as well (drbdsetup-84 prints them as bare
# "R - <resource>" lines) are not compared: drbd-rs does not send them yet.
#@ guests: 1
#@ disks: 64M

commands() {
	/lib/drbd/drbdsetup-84 events all >/tmp/events 2>&1 &
	local listener=$!
	sleep 1
	drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null 2>&1
	/lib/drbd/drbdsetup-84 new-resource r0
	/lib/drbd/drbdsetup-84 new-minor r0 0 0
	/lib/drbd/drbdsetup-84 attach 0 /dev/vda /dev/vda internal
	/lib/drbd/drbdsetup-84 primary 0 --force
	/lib/drbd/drbdsetup-84 secondary 0
	/lib/drbd/drbdsetup-84 invalidate 0
	/lib/drbd/drbdsetup-84 disk-options 0 --al-extents=3001
	/lib/drbd/drbdsetup-84 new-current-uuid 0
	/lib/drbd/drbdsetup-84 detach 0
	/lib/drbd/drbdsetup-84 attach 0 /dev/vda /dev/vda internal
	/lib/drbd/drbdsetup-84 primary 0
	/lib/drbd/drbdsetup-84 down r0
	sleep 1
	kill $listener
	wait $listener 2>/dev/null
	echo "== events"
	grep ' ST' /tmp/events
}

g1() {
	compare_with_c commands
	step "events were seen" grep -q 'ST-new 0,r0\[0\] .*ro:Primary' /tmp/ours.out
	step "unload drbd-rs" /sbin/rmmod drbd
}
