# SPDX-License-Identifier: GPL-2.0
# attach and detach of internal meta data as drbdmeta create-md writes it: /proc/drbd, show,
# status, dstate and the UUIDs, the size of /dev/drbdN, the refusals while attached, and the
# meta data drbdmeta reads back after detach and down, the same with drbd-rs as with C.
#@ guests: 1
#@ disks: 64M

md() {
	drbdmeta --force 0 v08 /dev/vda internal "$@" 2>&1 | grep -v '^#\|^$'
}

commands() {
	md create-md >/dev/null
	show84 new-resource r0
	show84 new-minor r0 0 0
	show84 attach 0 /dev/vda /dev/vda internal
	show_proc
	show84 show
	show84 status
	show84 0 dstate
	show84 0 show-gi
	echo "== size"
	cat /sys/block/drbd0/size /sys/block/drbd0/ro
	show84 attach 0 /dev/vda /dev/vda internal
	show84 del-minor 0
	show84 detach 0
	show_proc
	show84 detach 0
	echo "== attach again after apply-al"
	md apply-al
	show84 attach 0 /dev/vda /dev/vda internal --al-extents=3001
	show84 show
	show84 down r0
	show_proc
	echo "== dump-md"
	md apply-al
	md dump-md
}

g1() {
	compare_with_c commands
	step "unload drbd-rs" /sbin/rmmod drbd
}
