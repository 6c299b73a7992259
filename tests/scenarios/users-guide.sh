# SPDX-License-Identifier: GPL-2.0
# The DRBD user's guide on one node, with stock drbdadm and a resource file: create-md, bring the
# resource up, primary --force, mkfs.ext4, mount, write, unmount, down; the meta data drbdmeta
# dumps; up again and the data is intact; then fio with verify=crc32c through /dev/drbd0. The
# peer named in the resource file never comes: the node waits for it (WFConnection).
#@ guests: 1
#@ disks: 256M
#@ timeout: 300

up() {
	step "drbdadm up (runs drbdmeta apply-al before attaching)" drbdadm up r0
	step "waiting for the peer" grep -q 'cs:WFConnection' /proc/drbd
}

g1() {
	step "load" load_drbd
	two_node_res r0
	# this node's address from the resource file (a single guest has no network)
	ip addr add 10.0.0.1/32 dev lo
	step "drbdadm create-md" drbdadm --force create-md r0
	up
	expect_rc "primary refused while Inconsistent" 17 drbdadm primary r0
	step "drbdadm primary --force" drbdadm primary --force r0
	step "UpToDate Primary" grep -q 'ro:Primary/Unknown ds:UpToDate/DUnknown' /proc/drbd
	step "mkfs.ext4" host_run /host/usr/sbin/mke2fs -q -t ext4 -F /dev/drbd0
	mkdir -p /mnt
	step "mount" mount -t ext4 /dev/drbd0 /mnt
	step "write files" sh -c 'dd if=/dev/urandom of=/mnt/data bs=1M count=20 2>/dev/null &&
		echo hello > /mnt/hello && md5sum /mnt/data > /tmp/data.md5 && sync'
	cat /proc/drbd
	step "umount" umount /mnt
	step "drbdadm secondary" drbdadm secondary r0
	step "drbdadm down" drbdadm down r0
	step "no /dev/drbd0 config left" sh -c '! grep -q "^ 0:" /proc/drbd'
	# drbdadm's own dump-md: apply-al first, as after any down
	step "drbdmeta apply-al" drbdmeta --force 0 v08 /dev/vda internal apply-al
	drbdadm dump-md r0 >/tmp/md 2>&1
	cat /tmp/md
	# the forced Primary made a new data generation over the one create-md wrote
	step "dump-md: new current UUID, bitmap UUID the created one" \
		sh -c "grep -A1 '^uuid {' /tmp/md | grep -Eq '^ +0x[0-9A-F]{15}[02468ACE]; 0x0000000000000004;'"
	step "dump-md: the device size" grep -q '^la-size-sect 524200;' /tmp/md
	# never synced with a peer: still all out of sync (the last bits are beyond the device)
	step "dump-md: all bits set" grep -q '^# bits-set 65525;' /tmp/md
	up
	step "UpToDate after up" grep -q 'ds:UpToDate/DUnknown' /proc/drbd
	step "drbdadm primary (no --force needed)" drbdadm primary r0
	step "mount again" mount -t ext4 /dev/drbd0 /mnt
	step "data intact" md5sum -c /tmp/data.md5
	expect "small file intact" hello cat /mnt/hello
	step "umount" umount /mnt
	step "fio verify=crc32c" fio --name=verify --filename=/dev/drbd0 --direct=1 \
		--ioengine=psync --rw=randwrite --bs=4k --size=64M --verify=crc32c \
		--do_verify=1 --randrepeat=0
	step "fio 1M sequential with verify" fio --name=seq --filename=/dev/drbd0 --direct=1 \
		--ioengine=psync --rw=write --bs=1M --size=32M --offset=128M --verify=crc32c
	cat /proc/drbd
	step "drbdadm down" drbdadm down r0
	step "unload" unload_drbd
}
