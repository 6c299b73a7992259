# SPDX-License-Identifier: GPL-2.0
# resize without a peer: shrinking with --size; growing is refused without a peer ("Requested
# disk size is too big", the size stays), as is --assume-clean, a new AL layout without --force,
# and Diskless; /dev/drbd0's size, /proc/drbd, show and the meta data, the same with drbd-rs as
# with C. The on-disk bitmap words beyond the device's end are not compared: C leaves the
# stale bits of the larger size there, drbd-rs writes them zero.
#@ guests: 1
#@ disks: 64M

commands() {
	drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null 2>&1
	show84 new-resource r0
	show84 new-minor r0 0 0
	show84 attach 0 /dev/vda /dev/vda internal
	show84 new-current-uuid 0 --clear-bitmap
	show84 primary 0 --force
	dd if=/dev/urandom of=/dev/drbd0 bs=1M count=4 seek=40 oflag=direct 2>/dev/null
	show_proc
	show84 resize 0 --size=32M
	cat /sys/block/drbd0/size
	show_proc
	show84 resize 0
	cat /sys/block/drbd0/size
	show_proc
	show84 resize 0 --size=1G
	cat /sys/block/drbd0/size
	show84 resize 0 --assume-clean
	show84 resize 0 --al-stripes=2
	show84 secondary 0
	show84 resize 0 --size=48M
	cat /sys/block/drbd0/size
	show84 show
	show84 detach 0
	show84 resize 0
	show84 down r0
	echo "== dump-md"
	drbdmeta --force 0 v08 /dev/vda internal apply-al 2>&1
	drbdmeta --force 0 v08 /dev/vda internal dump-md 2>&1 | grep -v '^#\|^$' |
		sed -E -e '/^bm \{/,/^\}/d' -e 's/0x[0-9A-F]{16}/<uuid>/g'
}

g1() {
	compare_with_c commands
	step "unload drbd-rs" /sbin/rmmod drbd
}
