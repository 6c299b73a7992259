# SPDX-License-Identifier: GPL-2.0
# Backing disks of different sizes (receive_sizes(), drbd_new_dev_size()): g1 has 64 MiB, g2
# 48 MiB. Attached alone, each device is as large as its own disk allows; once connected both
# are as large as the smaller one (fresh, Inconsistent disks may shrink), the full sync covers
# that size and both hold the same data. Then g2 comes back with a fresh 32 MiB disk: g1 is
# UpToDate and never shrinks while connecting, so it logs "The peer's disk size is too small!",
# goes StandAlone and keeps serving I/O.
#@ guests: 2
#@ disks: 64M 48M 32M
#@ timeout: 300
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# sized_res G2DISK: resource r0 on g1's /dev/vda and G2DISK on g2.
sized_res() {
	cat >/etc/drbd.d/r0.res <<-EOT
	resource r0 {
		device /dev/drbd0;
		meta-disk internal;
		net { protocol C; }
		disk { c-max-rate 100M; }
		on g1 { disk /dev/vda; address 10.0.0.1:7789; }
		on g2 { disk $1; address 10.0.0.2:7789; }
	}
	EOT
}

# (a Secondary cannot be opened, not even by blockdev)
size_of_drbd0() {
	echo $(($(cat /sys/block/drbd0/size) * 512))
}

common() {
	step "load" load_drbd
	sized_res /dev/vdb
	step "create-md" drbdadm --force create-md r0
	step "new-resource" drbdadm new-resource r0
	step "new-minor" /lib/drbd/drbdsetup-84 new-minor r0 0 0
	step "attach" drbdadm attach r0
	share "alone_$GUEST" "$(size_of_drbd0)"
	barrier attached
	step "connect" drbdadm connect r0
	wait_for "connected" 60 grep -q 'cs:Connected' /proc/drbd
	small=$(fetch alone_g2)
	step "g1 alone was larger than g2 alone" test "$(fetch alone_g1)" -gt "$small"
	expect "the agreed size is g2's" "$small" size_of_drbd0
	cat /proc/drbd
	barrier agreed
}

g1() {
	step "primary --force" drbdadm primary --force r0
	wait_for "full sync done" 240 synced
	dmesg | grep -E 'drbd.*(size|Size|sync|Sync)' | tail -8
	step "fill the device" fio --name=fill --filename=/dev/drbd0 --direct=1 --ioengine=psync \
		--rw=write --bs=1M --size="$(size_of_drbd0)" --verify=crc32c
	share sum "$(primary_sum)"
	barrier same
	# g2 returns with a smaller, fresh disk
	wait_for "the peer is refused" 60 \
		sh -c "dmesg | grep -q \"The peer's disk size is too small\""
	wait_for "StandAlone" 30 grep -q 'cs:StandAlone' /proc/drbd
	cat /proc/drbd
	expect "the size stays" "$small" size_of_drbd0
	step "still serving I/O" fio --name=after --filename=/dev/drbd0 --direct=1 \
		--ioengine=psync --rw=randwrite --bs=4k --size=4M --verify=crc32c
	barrier refused
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	wait_for "full sync done" 240 synced
	sum=$(fetch sum)
	wait_for "every block arrived" 30 same_as "$sum" /dev/vdb
	barrier same
	step "down" drbdadm down r0
	sized_res /dev/vdc
	step "create-md on a 32 MiB disk" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "g1 went away" 60 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	barrier refused
	step "not connected again" grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
