# SPDX-License-Identifier: GPL-2.0
# A resync whose SyncSource cannot read some blocks. g1's backing disk is a memory-backed
# null_blk device (configfs); g1, a forced Primary, writes to it before g2 is up, then 4 KiB of
# it become bad blocks (null_blk's `badblocks`: reads fail). The full sync to g2 asks for those
# blocks too: the source answers P_NEG_RS_DREPLY, and the target must end the resync
# Inconsistent, with those blocks still out of sync and its data generation unchanged (C's
# drbd_resync_finished()), not UpToDate; a drbd-rs source sees its peer Inconsistent. With
# drbd-rs on both sides, and a C SyncSource for a drbd-rs SyncTarget.
#@ guests: 2
#@ disks: 64M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours
#@ variant: c-rs g1=c g2=ours

NB=/sys/kernel/config/nullb/nullb0

common() {
	step "load" load_drbd
	# on-io-error pass_on: C would detach the source's disk at the first read error
	cat >/etc/drbd.d/r0.res <<-EOT
	resource r0 {
		device /dev/drbd0;
		meta-disk internal;
		disk { on-io-error pass_on; c-max-rate 100M; }
		on g1 { disk /dev/nullb0; address 10.0.0.1:7789; }
		on g2 { disk /dev/vda; address 10.0.0.2:7789; }
	}
	EOT
}

g1() {
	step "configfs" sh -c "modprobe configfs && mount -t configfs none /sys/kernel/config"
	step "null_blk" modprobe null_blk nr_devices=0
	step "a memory-backed null_blk disk" sh -c "mkdir $NB && echo 32 >$NB/size &&
		echo 1 >$NB/memory_backed && echo 512 >$NB/blocksize && echo 1 >$NB/power"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	step "primary --force" drbdadm primary --force r0
	step "data" dd if=/dev/urandom of=/dev/drbd0 bs=1M count=16 oflag=direct
	# 4 KiB at 8 MiB cannot be read any more
	# (not read here: C's pass_on makes a disk with a failed read Inconsistent)
	step "bad blocks on the source" sh -c "echo +16384-16391 >$NB/badblocks"
	step "null_blk took them" sh -c "grep -q 16384 $NB/badblocks"
	barrier bad
	if [ "$DRBD_MODULE" = ours ]; then
		wait_for "the resync ended, the peer Inconsistent" 120 \
			grep -q 'cs:Connected ro:Primary/Secondary ds:UpToDate/Inconsistent' /proc/drbd
	fi
	# (a C SyncSource at protocol 96 and later stays SyncSource: it ends a resync only when
	# its peer reports UpToDate, or its own bitmap is clear)
	barrier checked
	cat /proc/drbd
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	step "create-md" drbdadm --force create-md r0
	barrier bad
	step "up" drbdadm up r0
	wait_for "the resync ended, Inconsistent" 120 \
		grep -q 'cs:Connected ro:Secondary/Primary ds:Inconsistent/UpToDate' /proc/drbd
	cat /proc/drbd
	dmesg | grep -E 'drbd.*(sync|Sync|failed|UUID)' | tail -8
	step "the failed blocks logged" sh -c "dmesg | grep -q 'drbd: r0/0 drbd0:  *[0-9]* failed blocks'"
	step "they stay out of sync" sh -c "! grep -q 'oos:0\b' /proc/drbd"
	step "no 'Resync done' UUIDs taken over" sh -c "! dmesg | grep -q 'updated UUIDs'"
	barrier checked
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
