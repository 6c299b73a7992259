# SPDX-License-Identifier: GPL-2.0
# Online resize while connected, as the DRBD user's guide does it: both nodes' backing devices
# (device-mapper linear devices over vda) grow from 8 MiB to 16 MiB of data, then `drbdadm
# resize` on the Primary grows /dev/drbd0 on both nodes (P_SIZES both ways), and the new 8 MiB
# are resynced from the Primary (no bitmap exchange). g1 keeps its meta data internal: it moves
# to the new end of the backing device; g2's is external, on vdb. The data written before stay,
# and both disks end up the same. Then `--assume-clean` (`resize --assume-clean` after another
# grow to 24 MiB) adds space without a resync. Right after, the Primary loses power: booted
# again it finds its meta data at the new end (drbdmeta and the module), 24 MiB, and the data.
# Before, the Secondary's `disk-flushes` is checked: its backing disk sees flushes at the
# Primary's barriers, none with `disk-flushes no` (write ordering drain). The same with the C
# module on either node.
#@ guests: 2
#@ disks: 32M 8M
#@ timeout: 300
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# Internal meta data of a backing device up to 128 MiB: 4 KiB superblock, 32 KiB activity log,
# 4 KiB bitmap; g1's backing device has that much more than its data.
if [ "$GUEST" = g1 ]; then md_extra=80; else md_extra=0; fi

# table MIB: the device-mapper table of d0 for MIB MiB of data
table() {
	echo "0 $(($1 * 2048 + md_extra)) linear /dev/vda 0"
}

# grow MIB: the backing device d0 grows to MIB MiB of data
grow() {
	dms suspend d0 && dms load d0 --table "$(table "$1")" && dms resume d0
}

common() {
	step "load" load_drbd
	cat >/etc/drbd.d/r0.res <<-EOT
	resource r0 {
		device /dev/drbd0;
		disk /dev/mapper/d0;
		net { protocol C; }
		on g1 { address 10.0.0.1:7789; meta-disk internal; }
		on g2 { address 10.0.0.2:7789; meta-disk /dev/vdb; }
	}
	EOT
	# after the power cut: the disk as it was, for g1() to bring up
	[ "$drbdrs_boot" = 1 ] || return 0
	step "dm device over 8 MiB of vda" dms create d0 --table "$(table 8)"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "connected" 30 grep -q 'cs:Connected' /proc/drbd
	barrier connected
}

# flushes: flush requests vda (under d0) completed
flushes() {
	awk '{ print $16 }' /sys/block/vda/stat
}

# kib: the size of /dev/drbd0 in KiB
kib() {
	echo $(($(cat /sys/block/drbd0/size) / 2))
}

# synced_at KIB: Connected, both UpToDate, /dev/drbd0 of KIB KiB
synced_at() {
	synced && [ "$(kib)" = "$1" ]
}

g1() {
	if [ "$drbdrs_boot" = 2 ]; then
		after_power_cut
		return
	fi
	# both disks are fresh (zeros): no initial sync
	step "skip the initial sync" drbdadm -- --clear-bitmap new-current-uuid r0
	wait_for "UpToDate on both" 30 synced
	step "primary" drbdadm primary r0
	expect "8 MiB" 8192 kib
	step "write 4 MiB" dd if=/dev/urandom of=/dev/drbd0 bs=1M count=4 oflag=direct
	barrier flushed
	barrier no-flushes
	step "write 4 MiB more" dd if=/dev/urandom of=/dev/drbd0 bs=1M seek=4 count=4 oflag=direct
	first=$(dd if=/dev/drbd0 bs=1M count=8 iflag=direct 2>/dev/null | md5sum)
	barrier written

	step "grow the backing device to 16 MiB" grow 16
	barrier grown
	step "resize while connected" drbdadm resize r0
	# the resync begins once the before-resync-source helper returned
	wait_for "the new blocks resync" 30 sh -c \
		"dmesg | grep -Eq 'Began resync as SyncSource \(will sync 8192 KB'"
	wait_for "16 MiB, resynced" 60 synced_at 16384
	cat /proc/drbd
	dmesg | grep -E 'online grow|Began resync|Resync done|size =|whole bitmap'
	expect "the data stay" "$first" sh -c \
		"dd if=/dev/drbd0 bs=1M count=8 iflag=direct 2>/dev/null | md5sum"
	step "write the new space" dd if=/dev/urandom of=/dev/drbd0 bs=1M seek=8 count=8 oflag=direct
	share sum "$(primary_sum)"
	barrier compared

	step "grow the backing device to 24 MiB" grow 24
	barrier grown-again
	step "resize --assume-clean" drbdadm -- --assume-clean resize r0
	wait_for "24 MiB" 30 synced_at 24576
	step "no resync of the new space" sh -c \
		"dmesg | grep -q 'Resync of new storage suppressed with --assume-clean'"
	step "write the newest space" dd if=/dev/urandom of=/dev/drbd0 bs=1M seek=16 count=8 \
		oflag=direct
	share sum24 "$(primary_sum)"
	barrier written-again
	power_cut
}

# g1 booted again after losing power as a Primary with 24 MiB
after_power_cut() {
	step "the dm device as it was" dms create d0 --table "$(table 24)"
	drbdmeta --force 0 v08 /dev/mapper/d0 internal apply-al >/tmp/apply-al 2>&1 ||
		fail "apply-al: $(cat /tmp/apply-al)"
	drbdmeta --force 0 v08 /dev/mapper/d0 internal dump-md >/tmp/md 2>&1
	cat /tmp/apply-al
	sed '/^bm {/,$d' /tmp/md
	step "drbdmeta finds 24 MiB" grep -q '^la-size-sect 49152;' /tmp/md
	step "up" drbdadm up r0
	expect "24 MiB after the power cut" 24576 kib
	wait_for "connected, synced" 60 synced_at 24576
	cat /proc/drbd
	barrier back
	step "primary" drbdadm primary r0
	expect "the data" "$(fetch sum24)" primary_sum
	barrier done
	step "down" drbdadm down r0
	step "remove the dm device" dms remove d0
	step "unload" unload_drbd
}

g2() {
	wait_for "UpToDate on both" 30 synced
	before=$(flushes)
	barrier flushed
	say "flushes: $before before, $(flushes) after"
	step "flushes at the barriers" test "$(flushes)" -gt "$before"
	step "disk-flushes no" /lib/drbd/drbdsetup-84 disk-options 0 --disk-flushes=no
	step "write ordering drain" grep -q 'wo:d' /proc/drbd
	before=$(flushes)
	barrier no-flushes
	barrier written
	expect "no flush at the barriers" "$before" flushes
	step "disk-flushes yes" /lib/drbd/drbdsetup-84 disk-options 0 --disk-flushes=yes
	step "grow the backing device to 16 MiB" grow 16
	barrier grown
	wait_for "16 MiB, resynced" 60 synced_at 16384
	cat /proc/drbd
	dmesg | grep -E 'online grow|Began resync|Resync done|size =|whole bitmap'
	barrier compared
	step "the same data as the peer" same_as "$(fetch sum)" /dev/mapper/d0
	step "grow the backing device to 24 MiB" grow 24
	barrier grown-again
	wait_for "24 MiB" 30 synced_at 24576
	barrier written-again
	# the Primary loses power and comes back
	barrier back
	step "the same data as the peer" same_as "$(fetch sum24)" /dev/mapper/d0
	barrier done
	step "down" drbdadm down r0
	step "remove the dm device" dms remove d0
	step "unload" unload_drbd
}
