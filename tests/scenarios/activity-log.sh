# SPDX-License-Identifier: GPL-2.0
# The activity log as crash protection: a Primary writes into four 4 MiB extents (two of them
# neighbours, one write spanning an extent border), then the backing disk is copied as it is at
# that instant, as a power cut would leave it. drbdmeta apply-al on the copy must find the hot
# extents in the log, and the copy attached shows them out of sync and the crashed Primary.
# The same with drbd-rs as with C: AL transaction count, apply-al's verdict, /proc/drbd, flags.
#@ guests: 1
#@ disks: 64M 64M

commands() {
	drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null 2>&1
	/lib/drbd/drbdsetup-84 new-resource r0
	/lib/drbd/drbdsetup-84 new-minor r0 0 0
	/lib/drbd/drbdsetup-84 attach 0 /dev/vda /dev/vda internal
	/lib/drbd/drbdsetup-84 new-current-uuid 0 --clear-bitmap
	/lib/drbd/drbdsetup-84 primary 0 --force
	# 4 KiB blocks: extents 0, 2, 5 and the border of 5 and 6
	for block in 0 2048 5120 6143; do
		dd if=/dev/urandom of=/dev/drbd0 bs=4k count=2 seek=$block oflag=direct 2>/dev/null
	done
	show_proc
	echo "== the disk as a crash leaves it"
	dd if=/dev/vda of=/dev/vdb bs=1M iflag=direct oflag=direct 2>/dev/null
	/lib/drbd/drbdsetup-84 down r0
	echo "== apply-al on the copy"
	drbdmeta --force 0 v08 /dev/vdb internal apply-al 2>&1
	/lib/drbd/drbdsetup-84 new-resource r1
	/lib/drbd/drbdsetup-84 new-minor r1 1 0
	/lib/drbd/drbdsetup-84 attach 1 /dev/vdb /dev/vdb internal
	show_proc
	/lib/drbd/drbdsetup-84 1 show-gi | grep '^flags'
	/lib/drbd/drbdsetup-84 down r1
}

g1() {
	compare_with_c commands
	step "four extents (16 MiB) out of sync" grep -q 'oos:16384$' /tmp/ours.out
	step "unload drbd-rs" /sbin/rmmod drbd
}
