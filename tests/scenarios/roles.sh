# SPDX-License-Identifier: GPL-2.0
# primary, secondary, new-current-uuid, invalidate and disk-options with raw drbdsetup-84,
# including the refusals (Inconsistent without --force, secondary or down while open, invalidate
# of a Primary, Diskless), the same with drbd-rs as with C: messages, exit codes, /proc/drbd, show-gi and the
# meta data. UUIDs are random, so they are masked, except the fixed ones.
#@ guests: 1
#@ disks: 64M

mask() {
	sed -E -e 's/0{16}/ZERO/g' -e 's/0{15}4/CREATED/g' \
		-e 's/[0-9A-F]{16}/<uuid>/g' \
		-e 's/ZERO/0000000000000000/g' -e 's/CREATED/0000000000000004/g' \
		-e 's/^# .*[0-9]{4}-[0-9]{2}-[0-9]{2}.*$/# <date>/' \
		-e 's/^(srcversion:).*/\1 -/'
}

s84() { show84 "$@" | mask; }
gi() { echo "== show-gi"; /lib/drbd/drbdsetup-84 0 show-gi 2>&1 | grep -v '^ *[|V^+-]\|<' | mask; }

commands() {
	drbdmeta --force 0 v08 /dev/vda internal create-md >/dev/null 2>&1
	s84 primary 0
	s84 new-resource r0
	s84 new-minor r0 0 0
	s84 primary 0
	s84 primary 0 --force
	s84 attach 0 /dev/vda /dev/vda internal
	s84 primary 0
	gi
	s84 primary 0 --force
	show_proc
	gi
	s84 primary 0
	s84 invalidate 0
	s84 new-current-uuid 0
	gi
	s84 new-current-uuid 0 --clear-bitmap
	show_proc
	gi
	echo "== held open"
	exec 4</dev/drbd0
	s84 secondary 0
	s84 down r0
	exec 4<&-
	s84 secondary 0
	s84 secondary 0
	echo "== Secondary: read-only"
	cat /sys/block/drbd0/ro
	dd if=/dev/zero of=/dev/drbd0 bs=4k count=1 2>&1 | sed 's/^dd: //'
	s84 invalidate 0
	show_proc
	gi
	echo "== disk-options"
	s84 disk-options 0 --al-extents=3001 --resync-rate=100M
	s84 disk-options 0 --al-extents=100000 --al-updates=no
	s84 disk-options 0 --disk-flushes=no
	show_proc
	s84 disk-options 0 --disk-drain=no
	show_proc
	s84 show
	gi
	s84 disk-options 0 /dev/vdb
	s84 disk-options 0 --set-defaults
	s84 show
	s84 detach 0
	s84 new-current-uuid 0
	s84 disk-options 0 --al-extents=3001
	s84 invalidate 0
	s84 down r0
	echo "== dump-md"
	drbdmeta --force 0 v08 /dev/vda internal apply-al 2>&1
	drbdmeta --force 0 v08 /dev/vda internal dump-md 2>&1 | grep -v '^$' | mask
}

g1() {
	compare_with_c commands
	step "unload drbd-rs" /sbin/rmmod drbd
}
